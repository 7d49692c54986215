"""growthmap: where your next B2B revenue comes from.

The library in a notebook (``docs/python-api.md`` shows a whole session)::

    import growthmap as gm

    ws = gm.Workspace.create("acme.duckdb")
    gm.load(ws, "accounts", "accounts.csv")          # -> gm.LoadReport
    gm.load(ws, "transactions", "invoices.csv", mapping="erp.toml")
    result = gm.run(ws, gm.load_config("growthmap.toml"))   # -> gm.RunResult
    gm.headline(ws)                                  # -> gm.Headline
    gm.account_card(ws, "A0042")                     # -> gm.AccountCard

``gm.load`` is the loading *function*; the loading package's parts are imported by
name (``from growthmap.load import Mapping``).  The run's stages live in the folders
named after them (``growthmap.value``, ``growthmap.potential``, ``growthmap.scores``,
``growthmap.segments``, ``growthmap.plan``) and register with
:func:`growthmap.runner.pipeline.register_stage`, as a user's own stage would.
"""

__version__ = "0.1.0"

# the version is set first: the modules below read it while they are imported
from growthmap.config import Config, load_config
from growthmap.errors import GrowthmapError
from growthmap.load._load import load_table as load
from growthmap.load._report import LoadReport
from growthmap.read.card import AccountCard, account_card
from growthmap.read.migration import Migration, migration
from growthmap.read.summary import Headline, headline
from growthmap.runner.duckdb_run import RunResult, run
from growthmap.runner.pipeline import RunContext, register_stage
from growthmap.workspace import Workspace

__all__ = [
    "AccountCard",
    "Config",
    "GrowthmapError",
    "Headline",
    "LoadReport",
    "Migration",
    "RunContext",
    "RunResult",
    "Workspace",
    "__version__",
    "account_card",
    "headline",
    "load",
    "load_config",
    "migration",
    "register_stage",
    "run",
]
