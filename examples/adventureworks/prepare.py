"""AdventureWorks resellers: reshape what a mapping alone cannot.

* accounts = DimReseller joined to DimGeography for city, state, country and sales
  territory; the owner is the salesperson who sold the reseller the most (the warehouse
  has no account owner; resellers that never bought have none).  The firmographics the
  contract has no column for (ProductLine, YearOpened, OrderFrequency, AnnualSales,
  BankName) stay as extra attributes;
* products = DimProduct with its category (through the subcategory) as the family:
  Bikes, Components, Clothing, Accessories; products without a subcategory have none;
* reps = the 17 employees with SalesPersonFlag = 1, named first + last.

Transactions and territories load straight from the public files with a mapping
(``transactions.mapping.toml``, ``territories.mapping.toml``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


def _read(data: Path, name: str) -> pd.DataFrame:
    # keep_default_na=False: territory 11's region is the literal text "NA"
    return pd.read_csv(data / "adventureworks-dw" / f"{name}.csv", dtype=str,
                       keep_default_na=False)


def prepare(data: Path, out: Path) -> None:
    """Write accounts.csv, products.csv and reps.csv into ``out``."""
    sales = _read(data, "FactResellerSales")
    amount = sales.assign(amount=sales["SalesAmount"].astype(float))
    owner = (amount.groupby(["ResellerKey", "EmployeeKey"])["amount"].sum().reset_index()
             .sort_values(["ResellerKey", "amount", "EmployeeKey"],
                          ascending=[True, False, True])
             .drop_duplicates("ResellerKey").set_index("ResellerKey")["EmployeeKey"])
    geo = _read(data, "DimGeography")
    r = _read(data, "DimReseller").merge(geo, on="GeographyKey", how="left")
    pd.DataFrame({
        "account_id": r["ResellerKey"], "name": r["ResellerName"],
        "industry": r["BusinessType"], "country": r["EnglishCountryRegionName"],
        "region": r["StateProvinceName"], "city": r["City"],
        "employees": r["NumberEmployees"], "annual_revenue": r["AnnualRevenue"],
        "territory_id": r["SalesTerritoryKey"],
        "owner_rep_id": r["ResellerKey"].map(owner).fillna(""),
        "product_line": r["ProductLine"], "year_opened": r["YearOpened"],
        "order_frequency": r["OrderFrequency"], "annual_sales": r["AnnualSales"],
        "bank": r["BankName"],
    }).to_csv(out / "accounts.csv", index=False)

    sub = _read(data, "DimProductSubcategory").merge(_read(data, "DimProductCategory"),
                                                     on="ProductCategoryKey")
    p = _read(data, "DimProduct").merge(sub[["ProductSubcategoryKey",
                                              "EnglishProductCategoryName"]],
                                         on="ProductSubcategoryKey", how="left")
    pd.DataFrame({
        "product_id": p["ProductKey"], "name": p["EnglishProductName"],
        "family": p["EnglishProductCategoryName"].fillna(""), "list_price": p["ListPrice"],
    }).to_csv(out / "products.csv", index=False)

    e = _read(data, "DimEmployee")
    e = e[e["SalesPersonFlag"] == "1"]
    pd.DataFrame({
        "rep_id": e["EmployeeKey"], "name": e["FirstName"] + " " + e["LastName"],
        "role": e["Title"], "territory_id": e["SalesTerritoryKey"],
        "manager_id": e["ParentEmployeeKey"],
    }).to_csv(out / "reps.csv", index=False)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2].parent
                    / "shared" / "data")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out" / "build")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    prepare(a.data, a.out)
