"""Fresh raw exports as a new user has them: CRM accounts, an ERP's invoice lines, a
product list, reps and territories — CRM-style headers, amounts in GBP, no mapping file.

The world is small and random (a seed), with heavy-tailed customer sizes, so that the
docs' walkthrough runs every stage in a test; nothing in it is tuned to a result.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["LAST_DAY", "write_raw_exports"]

#: The last invoice date of the exports (the docs run as of this day).
LAST_DAY = dt.date(2025, 12, 31)
_FAMILIES = {"Hardware": 4, "Software": 3, "Services": 3, "Supplies": 2}
_INDUSTRIES = ["Manufacturing", "Retail", "Healthcare", "Logistics", "Finance", "Education"]
_COUNTRIES = ["United Kingdom", "Ireland", "France", "Germany"]
_TERRITORIES = {"T-N": ("North", "UK North"), "T-S": ("South", "UK South"),
                "T-I": ("International", "Europe")}


def write_raw_exports(folder: Path, n_accounts: int = 240, seed: int = 7) -> dict[str, Path]:
    """Write accounts.csv, products.csv, invoices.xlsx, reps.csv, territories.csv."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    terr = pd.DataFrame({"Territory Code": list(_TERRITORIES),
                         "Territory Name": [v[1] for v in _TERRITORIES.values()],
                         "Region": [v[0] for v in _TERRITORIES.values()]})
    reps = pd.DataFrame({"Rep ID": [f"U{i:03d}" for i in range(1, 7)],
                         "Full Name": ["Ann Lee", "Bo Marsh", "Cy Dale", "Di Penn", "Ed Roe",
                                       "Fay Moss"],
                         "Territory": [t for t in _TERRITORIES for _ in range(2)]})
    ids = [f"0015g{int(rng.integers(16**6)):06X}{i:04d}" for i in range(n_accounts)]
    rep_of = rng.integers(0, len(reps), n_accounts)
    size = np.round(np.exp(rng.normal(4.0, 1.3, n_accounts))).astype(int) + 5
    accounts = pd.DataFrame({
        "Account ID": ids,
        "Account Name": [f"{w} {s}" for w, s in zip(
            rng.choice(["Acme", "Borealis", "Cobalt", "Delta", "Ember", "Falcon", "Granite",
                        "Harbour", "Ionic", "Juniper"], n_accounts),
            [f"Trading {i}" for i in range(n_accounts)], strict=True)],
        "Industry": rng.choice(_INDUSTRIES, n_accounts),
        "Billing Country": rng.choice(_COUNTRIES, n_accounts, p=[0.7, 0.1, 0.1, 0.1]),
        "Sales Region": [reps["Territory"][r] and _TERRITORIES[reps["Territory"][r]][0]
                         for r in rep_of],
        "Sales Territory": [reps["Territory"][r] for r in rep_of],
        "Account Owner": [reps["Rep ID"][r] for r in rep_of],
        "Employees": size,
        "Engagement Score": rng.integers(0, 101, n_accounts),
        "Segment": rng.choice(["SMB", "Mid-Market", "Enterprise"], n_accounts,
                              p=[0.6, 0.3, 0.1]),
    })
    products = pd.DataFrame([
        {"Product Code": f"{fam[:2].upper()}-{k + 1:02d}", "Product Name": f"{fam} item {k + 1}",
         "Product Family": fam}
        for fam, n in _FAMILIES.items() for k in range(n)])
    # customers: about two thirds of accounts, spend heavy-tailed in employees
    lines = []
    start = dt.date(2023, 1, 1)
    span = (LAST_DAY - start).days
    buyer = rng.random(n_accounts) < 0.65
    for i in np.flatnonzero(buyer):
        yearly = float(np.exp(rng.normal(np.log(size[i]) + 5.0, 0.8)))  # GBP a year
        fams = rng.choice(list(_FAMILIES), rng.integers(1, 4), replace=False)
        n_lines = int(rng.integers(4, 40))
        for _ in range(n_lines):
            fam = str(rng.choice(fams))
            prod = products[products["Product Family"] == fam].sample(
                1, random_state=int(rng.integers(1 << 30)))["Product Code"].iloc[0]
            qty = int(rng.integers(1, 20))
            amount = round(yearly * 3 / n_lines * rng.uniform(0.5, 1.5), 2)
            lines.append({"Account ID": ids[i],
                          "Invoice Date": start + dt.timedelta(days=int(rng.integers(0, span + 1))),
                          "Item No": prod, "Quantity": qty, "Net Amount": amount,
                          "Currency": "GBP"})
    inv = pd.DataFrame(lines).sort_values(["Invoice Date", "Account ID"]).reset_index(drop=True)
    inv.insert(0, "Invoice No", [f"INV{100000 + k}" for k in range(len(inv))])
    inv.loc[inv.index[-1], "Invoice Date"] = LAST_DAY
    paths = {
        "accounts": folder / "accounts.csv", "products": folder / "products.csv",
        "transactions": folder / "invoices.xlsx", "reps": folder / "reps.csv",
        "territories": folder / "territories.csv",
    }
    accounts.to_csv(paths["accounts"], index=False)
    products.to_csv(paths["products"], index=False)
    reps.to_csv(paths["reps"], index=False)
    terr.to_csv(paths["territories"], index=False)
    inv.to_excel(paths["transactions"], index=False)
    return paths
