"""Build a ready-to-run demo workspace: files written, loaded like a user's, truth kept apart.

The demo goes through the same loader a user's CRM export does (quarantine, data
quality and all), so ``growthmap demo`` exercises the real path rather than a shortcut.
The truth tables go to the ``truth`` schema, where no pipeline step reads them; only
``growthmap evaluate`` and the tests compare models against them.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from growthmap.demo._catalog import DEMO_AS_OF
from growthmap.demo._regimes import Regime, resolve_regime
from growthmap.demo._stream import INPUT_TABLES, TRUTH_TABLES, Progress, write_world_parquet
from growthmap.load import load_table
from growthmap.workspace import Workspace

__all__ = ["build_demo_workspace"]


def _sql_str(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def build_demo_workspace(
    path: str | Path,
    n_accounts: int | None = None,
    seed: int = 42,
    progress: Progress | None = None,
    *,
    chunk_accounts: int = 50_000,
    regime: str | Regime | None = None,
) -> Workspace:
    """Create a fresh workspace at ``path`` holding a demo world and its truth.

    Writes the world to temporary Parquet files (with a few deliberately broken rows,
    listed in ``truth.bad_rows``), loads every input table through
    :func:`growthmap.load.load_table` - referenced tables first - and copies the truth
    tables into the ``truth`` schema (``truth.world`` records size, seed, as-of and
    regime).  ``regime`` names a market that breaks one of the default world's comforts
    (see :mod:`growthmap.demo._regimes`); ``n_accounts`` defaults to its size.
    ``progress(message)`` hears after each generated chunk and each loaded table.
    """
    reg = resolve_regime(regime)
    n_accounts = reg.n_accounts if n_accounts is None else n_accounts
    ws = Workspace.create(path, overwrite=True)
    try:
        with tempfile.TemporaryDirectory(prefix="growthmap-demo-") as tmp:
            files = write_world_parquet(tmp, n_accounts, seed, chunk_accounts, progress,
                                        bad_rows=True, regime=reg)
            for i, name in enumerate(INPUT_TABLES):
                load_table(ws, name, files[name], mapping=None, mode="replace")
                if progress:
                    progress(f"loaded {name} ({i + 1} of {len(INPUT_TABLES)} tables)")
            ws.con.execute("CREATE SCHEMA IF NOT EXISTS truth")
            for name in TRUTH_TABLES:
                ws.con.execute(f"CREATE OR REPLACE TABLE truth.{name} AS SELECT * FROM "
                               f"read_parquet({_sql_str(files['truth_' + name])})")
            ws.con.execute("CREATE OR REPLACE TABLE truth.bad_rows AS SELECT * FROM "
                           f"read_parquet({_sql_str(files['truth_bad_rows'])})")
            ws.con.execute(
                "CREATE OR REPLACE TABLE truth.world AS SELECT * FROM (VALUES "
                "('n_accounts', ?), ('seed', ?), ('as_of', ?), ('regime', ?)) t(key, value)",
                [str(n_accounts), str(seed), DEMO_AS_OF.isoformat(), reg.name],
            )
    except BaseException:
        ws.close()
        raise
    return ws
