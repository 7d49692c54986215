"""The demo world: a synthetic B2B market whose true wallets and next year are known.

``growthmap demo`` builds a workspace from it so every feature can be tried without
data, and the tests score the potential and propensity models against its truth.  The
world is deterministic per seed and is generated in blocks of 1,000 accounts, each
seeded on its own, so the same seed gives the same rows whether the world is held in
memory (:func:`generate_world`) or streamed to Parquet in chunks
(:func:`write_world_parquet`, flat memory up to millions of accounts).

See ``docs/demo-world.md`` for what the world contains and how its truth is drawn.
"""

from growthmap.demo._bad_rows import NULLED, QUARANTINED, expected_counts
from growthmap.demo._build import build_demo_workspace
from growthmap.demo._catalog import BASE_CURRENCY, DEMO_AS_OF, DEMO_START, NEXT_YEAR
from growthmap.demo._crm import CRITERIA
from growthmap.demo._regimes import REGIMES, Regime, resolve_regime
from growthmap.demo._stream import (
    INPUT_TABLES,
    MAX_ACCOUNTS,
    TRUTH_TABLES,
    Progress,
    World,
    generate_world,
    write_world_parquet,
)
from growthmap.demo._util import BLOCK

__all__ = [
    "BASE_CURRENCY",
    "BLOCK",
    "CRITERIA",
    "DEMO_AS_OF",
    "DEMO_START",
    "INPUT_TABLES",
    "MAX_ACCOUNTS",
    "NEXT_YEAR",
    "NULLED",
    "QUARANTINED",
    "REGIMES",
    "TRUTH_TABLES",
    "Progress",
    "Regime",
    "World",
    "build_demo_workspace",
    "expected_counts",
    "generate_world",
    "resolve_regime",
    "write_world_parquet",
]
