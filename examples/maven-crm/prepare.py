"""Maven CRM sales opportunities: reshape what a mapping alone cannot.

* accounts = accounts.csv with revenue converted from USD millions to USD, the owner
  being the agent with the most won value at the account, and the owner's regional
  office as territory.  The sector ``technolgy`` stays misspelt (a quirk of the source);
* transactions = the Won deals only (a mapping cannot filter rows): one booking per deal,
  dated at its close date, amount = close value.  ``GTXPro`` stays as in the source —
  ``transactions.mapping.toml`` recodes it to the catalogue's ``GTX Pro``;
* opportunities = every deal with ``won`` derived from the stage (Won / Lost; open
  stages leave it empty).  Open deals without an account (1,425) and Prospecting deals
  without an engage date are kept: the loader quarantines them with the reason;
* territories = the three regional offices.

Products and sales agents load straight from the public files with a mapping.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


def _read(data: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(data / "maven-crm-sales-opportunities" / f"{name}.csv", dtype=str,
                       keep_default_na=False)


def prepare(data: Path, out: Path) -> None:
    """Write accounts, transactions, opportunities and territories CSVs into ``out``."""
    deals = _read(data, "sales_pipeline")
    teams = _read(data, "sales_teams")
    won = deals[deals["deal_stage"] == "Won"]
    value = won.assign(v=won["close_value"].astype(float))
    owner = (value.groupby(["account", "sales_agent"])["v"].sum().reset_index()
             .sort_values(["account", "v", "sales_agent"], ascending=[True, False, True])
             .drop_duplicates("account").set_index("account")["sales_agent"])
    office = teams.set_index("sales_agent")["regional_office"]
    acc = _read(data, "accounts")
    revenue = pd.to_numeric(acc["revenue"], errors="coerce") * 1_000_000
    pd.DataFrame({
        "account_id": acc["account"], "name": acc["account"], "industry": acc["sector"],
        "country": acc["office_location"], "employees": acc["employees"],
        "annual_revenue": revenue.round(2), "parent_id": acc["subsidiary_of"],
        "owner_rep_id": acc["account"].map(owner).fillna(""),
        "territory_id": acc["account"].map(owner).map(office).fillna(""),
        "year_established": acc["year_established"],
    }).to_csv(out / "accounts.csv", index=False)

    pd.DataFrame({
        "line_id": won["opportunity_id"], "account_id": won["account"],
        "date": won["close_date"], "product_id": won["product"],
        "amount": won["close_value"],
    }).to_csv(out / "transactions.csv", index=False)

    pd.DataFrame({
        "opportunity_id": deals["opportunity_id"], "account_id": deals["account"],
        "product_id": deals["product"], "created": deals["engage_date"],
        "closed": deals["close_date"], "stage": deals["deal_stage"],
        "amount": deals["close_value"],
        "won": deals["deal_stage"].map({"Won": "true", "Lost": "false"}).fillna(""),
        "owner_rep_id": deals["sales_agent"],
    }).to_csv(out / "opportunities.csv", index=False)

    offices = sorted(teams["regional_office"].unique())
    pd.DataFrame({"territory_id": offices, "name": offices, "region": offices}) \
        .to_csv(out / "territories.csv", index=False)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2].parent
                    / "shared" / "data")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out" / "build")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    prepare(a.data, a.out)
