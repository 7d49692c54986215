"""UCI wholesale customers: annual spend by category, turned into contract tables.

The dataset has no transactions, only each client's annual spend on six categories
(monetary units, m.u.).  The convention used here, so that the pipeline can read it:

* every client x category with a positive spend becomes **one transaction line dated on
  the as-of date, 2014-12-31** (the last day of the year the spend covers), with the
  annual spend as its amount.  The trailing-12-month value is then exactly the annual
  spend; there is no earlier year, so growth and the prior window are empty, and models
  that learn from change over time have nothing to learn from (the run says so);
* each category is a product and its own family, so potential and share of wallet come
  out per category;
* clients get ids ``W001`` .. ``W440`` in file order; Channel becomes the industry
  (1 = Horeca: hotel/restaurant/café, 2 = Retail) and Region the region (1 = Lisbon,
  2 = Oporto, 3 = Other), all in Portugal.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

AS_OF = "2014-12-31"
CATEGORIES = ("Fresh", "Milk", "Grocery", "Frozen", "Detergents_Paper", "Delicassen")
CHANNELS = {"1": "Horeca", "2": "Retail"}
REGIONS = {"1": "Lisbon", "2": "Oporto", "3": "Other"}


def prepare(data: Path, out: Path) -> None:
    """Write accounts.csv, products.csv and transactions.csv into ``out``."""
    w = pd.read_csv(data / "uci-wholesale-customers" / "wholesale_customers.csv", dtype=str,
                    keep_default_na=False)
    ids = [f"W{i + 1:03d}" for i in range(len(w))]
    pd.DataFrame({
        "account_id": ids, "name": [f"Client {i[1:]}" for i in ids],
        "industry": w["Channel"].map(CHANNELS), "region": w["Region"].map(REGIONS),
        "country": "Portugal",
    }).to_csv(out / "accounts.csv", index=False)
    pd.DataFrame({"product_id": CATEGORIES, "name": [c.replace("_", " and ") for c in
                                                     CATEGORIES], "family": CATEGORIES}) \
        .to_csv(out / "products.csv", index=False)
    long = w.assign(account_id=ids).melt(id_vars=["account_id"], value_vars=list(CATEGORIES),
                                         var_name="product_id", value_name="amount")
    long["amount"] = long["amount"].astype(float)
    long = long[long["amount"] > 0].sort_values(["account_id", "product_id"])
    long.assign(line_id=long["account_id"] + "-" + long["product_id"], date=AS_OF)[
        ["line_id", "account_id", "date", "product_id", "amount"]].to_csv(
        out / "transactions.csv", index=False)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2].parent
                    / "shared" / "data")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out" / "build")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    prepare(a.data, a.out)
