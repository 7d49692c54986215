"""Northwind: reshape what a mapping alone cannot (order lines, families, rep territories).

* transactions = orders x order_details: one line per order line, dated at the order
  date, amount = UnitPrice x Quantity x (1 - Discount) — the revenue after discount
  (1,265,793.04 in total);
* products = products + their category name as the family;
* reps = employees with their first sales territory (the contract gives a rep one home
  territory; Northwind gives several);
* territories = territories + their region's name.

Customers and employees need no reshaping: ``customers.mapping.toml`` loads
``customers.csv`` as it is.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


def _read(data: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(data / "northwind" / f"{name}.csv", dtype=str, keep_default_na=False)


def prepare(data: Path, out: Path) -> None:
    """Write transactions.csv, products.csv, reps.csv and territories.csv into ``out``."""
    orders = _read(data, "orders")
    lines = _read(data, "order_details").merge(orders, on="OrderID", how="inner")
    price = lines["UnitPrice"].astype(float)
    qty = lines["Quantity"].astype(float)
    disc = lines["Discount"].astype(float)
    pd.DataFrame({
        "line_id": lines["OrderID"] + "-" + lines["ProductID"],
        "account_id": lines["CustomerID"],
        "date": lines["OrderDate"],
        "product_id": lines["ProductID"],
        "amount": (price * qty * (1 - disc)).round(4),
        "quantity": qty,
    }).to_csv(out / "transactions.csv", index=False)

    products = _read(data, "products").merge(_read(data, "categories"), on="CategoryID")
    pd.DataFrame({
        "product_id": products["ProductID"], "name": products["ProductName"],
        "family": products["CategoryName"], "list_price": products["UnitPrice"],
    }).to_csv(out / "products.csv", index=False)

    terr = _read(data, "territories").merge(_read(data, "region"), on="RegionID")
    pd.DataFrame({
        "territory_id": terr["TerritoryID"], "name": terr["TerritoryDescription"].str.strip(),
        "region": terr["RegionDescription"].str.strip(),
    }).to_csv(out / "territories.csv", index=False)

    emp = _read(data, "employees")
    first = _read(data, "employeeterritories").sort_values("TerritoryID") \
        .drop_duplicates("EmployeeID")
    emp = emp.merge(first, on="EmployeeID", how="left")
    pd.DataFrame({
        "rep_id": emp["EmployeeID"], "name": emp["FirstName"] + " " + emp["LastName"],
        "role": emp["Title"], "territory_id": emp["TerritoryID"].fillna(""),
        "manager_id": emp["ReportsTo"],
    }).to_csv(out / "reps.csv", index=False)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2].parent
                    / "shared" / "data")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out" / "build")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    prepare(a.data, a.out)
