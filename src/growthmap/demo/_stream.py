"""Generating the demo world block by block: in memory or streamed to Parquet.

``generate_world`` and ``write_world_parquet`` run the very same block generator, so a
world written in chunks equals the world held in memory, row for row.  Blocks are seeded
on their own (see :mod:`growthmap.demo._util`), which makes the output independent of
the chunk size, and a world of ``n`` accounts is a prefix of a bigger world with the
same seed except for the size-dependent layout (territories, reps, owners).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from growthmap.demo._catalog import DEMO_AS_OF, INDUSTRIES
from growthmap.demo._crm import (
    draw_assessments,
    draw_competitors,
    draw_contacts,
    draw_external_potential,
    draw_opportunities,
    draw_signals,
)
from growthmap.demo._regimes import Regime, resolve_regime
from growthmap.demo._transactions import draw_history, draw_lines, draw_next_year
from growthmap.demo._util import AS_OF_DAY, BLOCK, Stream, block_rng, dates, ids
from growthmap.demo._world import (
    FAMILY_NAMES,
    N_FAMILIES,
    Layout,
    draw_accounts,
    make_layout,
    make_products,
)
from growthmap.errors import ConfigError

__all__ = [
    "INPUT_TABLES",
    "MAX_ACCOUNTS",
    "TRUTH_TABLES",
    "Progress",
    "World",
    "generate_world",
    "write_world_parquet",
]

#: Input tables in load order: the referenced tables first.
INPUT_TABLES = ("territories", "reps", "products", "accounts", "transactions",
                "opportunities", "assessments", "contacts", "competitors", "signals",
                "external_potential")
_LAYOUT_TABLES = ("territories", "reps", "products")
_BLOCK_TABLES = INPUT_TABLES[3:]
TRUTH_TABLES = ("wallet", "next_year", "accounts")
#: Account ids have seven digits; beyond that their order would stop being numeric.
MAX_ACCOUNTS = 9_999_999

#: ``progress(message)``, as the pipeline's: e.g. ``"generated 50,000 of 1,000,000 accounts"``.
Progress = Callable[[str], None]

_TRUTH_SCHEMAS = {
    "wallet": pa.schema([("account_id", pa.string()), ("family", pa.string()),
                         ("wallet", pa.float64())]),
    "next_year": pa.schema([("account_id", pa.string()), ("family", pa.string()),
                            ("amount", pa.float64()), ("first_date", pa.date32())]),
    "accounts": pa.schema([
        ("account_id", pa.string()), ("is_customer", pa.bool_()),
        ("active_at_as_of", pa.bool_()), ("latent_propensity", pa.float64()),
        ("latent_fit", pa.float64()), ("industry", pa.string()), ("employees", pa.int64()),
        ("wallet_total", pa.float64()), ("t12m_total", pa.float64()),
        ("families_t12m", pa.int64()), ("next_year_total", pa.float64()),
        ("new_families_next_year", pa.int64()), ("churned_next_year", pa.bool_()),
    ]),
}


class _Context:
    """What every block needs: the layout and the catalogue's lookup arrays."""

    def __init__(self, n_accounts: int, seed: int, regime: Regime) -> None:
        self.n_accounts = n_accounts
        self.seed = seed
        self.regime = regime
        self.layout: Layout = make_layout(n_accounts, seed)
        self.products = make_products()
        self.list_price = self.products["list_price"].to_numpy()
        self.product_ids = self.products["product_id"].combine_chunks()

    def layout_tables(self) -> dict[str, pa.Table]:
        return {"territories": self.layout.territories, "reps": self.layout.reps,
                "products": self.products}


def _generate_block(ctx: _Context, block: int) -> dict[str, pa.Table]:
    """All rows of one block; ``truth_*`` keys hold the truth tables."""
    seed, regime = ctx.seed, ctx.regime
    acc = draw_accounts(ctx.layout, seed, block, regime)
    hist = draw_history(acc, block_rng(seed, block, Stream.HISTORY), regime)
    lines = draw_lines(acc, hist, ctx.list_price, ctx.product_ids,
                       block_rng(seed, block, Stream.LINES), regime.lines_factor)
    nxt = draw_next_year(acc, hist, block_rng(seed, block, Stream.NEXT_YEAR), regime.lapse_shift)
    rng_people = block_rng(seed, block, Stream.PEOPLE)
    rng_market = block_rng(seed, block, Stream.MARKET)
    out = {
        "accounts": acc.table,
        "transactions": lines.table,
        "opportunities": draw_opportunities(acc, hist, nxt, ctx.layout, ctx.product_ids,
                                            block_rng(seed, block, Stream.OPPORTUNITIES)),
        "assessments": draw_assessments(acc, hist, rng_people),
        "contacts": draw_contacts(acc, hist, rng_people),
        "competitors": draw_competitors(acc, hist, rng_market),
        "signals": draw_signals(acc, hist, nxt, rng_market),
        "external_potential": draw_external_potential(acc, hist, rng_market),
    }
    if not regime.vendor:  # drawn all the same, so the other streams stay as they are
        out["external_potential"] = out["external_potential"].slice(0, 0)

    n = len(acc.number)
    account_id = acc.account_ids
    out["truth_wallet"] = pa.Table.from_arrays(
        [pc.take(account_id, np.repeat(np.arange(n), N_FAMILIES)),
         pa.array(np.tile(FAMILY_NAMES, n), type=pa.string()), acc.wallet.ravel()],
        schema=_TRUTH_SCHEMAS["wallet"])
    buy = np.flatnonzero(nxt.amount > 0)
    out["truth_next_year"] = pa.Table.from_arrays(
        [pc.take(account_id, hist.acc[buy]), pa.array(FAMILY_NAMES[hist.fam[buy]],
                                                      type=pa.string()),
         nxt.amount[buy], dates(AS_OF_DAY + nxt.first_day[buy])],
        schema=_TRUTH_SCHEMAS["next_year"])

    in_t12m = lines.day >= 731
    t12m = np.bincount(lines.acc, weights=np.where(in_t12m, lines.amount, 0.0), minlength=n)
    starts = hist.group_start
    live = hist.live
    next_total = np.bincount(hist.acc, weights=nxt.amount, minlength=n)
    active = np.logical_or.reduceat(live, starts)
    out["truth_accounts"] = pa.Table.from_arrays([
        account_id, acc.is_customer, active, np.round(acc.propensity, 6),
        np.round(acc.fit, 6),
        pa.array(np.array([i[0] for i in INDUSTRIES], dtype=object)[acc.industry],
                 type=pa.string()),
        acc.employees, acc.wallet.sum(axis=1), np.round(t12m, 2),
        np.add.reduceat(live.astype(np.int64), starts), np.round(next_total, 2),
        np.add.reduceat(((nxt.amount > 0) & ~live).astype(np.int64), starts),
        active & (next_total == 0),
    ], schema=_TRUTH_SCHEMAS["accounts"])

    last = (block + 1) * BLOCK
    if last > ctx.n_accounts:  # the last, partial block: drawn whole, then cut
        last_id = pa.scalar(ids("A", np.array([ctx.n_accounts]), 7)[0].as_py())
        out = {k: t.filter(pc.less_equal(t["account_id"], last_id)) for k, t in out.items()}
    return out


def _blocks(n_accounts: int) -> int:
    return math.ceil(n_accounts / BLOCK)


def _check(n_accounts: int, chunk_accounts: int = BLOCK) -> None:
    if not 1 <= n_accounts <= MAX_ACCOUNTS:
        raise ConfigError(f"n_accounts must be between 1 and {MAX_ACCOUNTS:,}, "
                          f"got {n_accounts}", hint="choose a size such as 5000")
    if chunk_accounts < 1:
        raise ConfigError(f"chunk_accounts must be positive, got {chunk_accounts}",
                          hint="use the default of 50000")


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    """Nullable integer and boolean columns stay integer and boolean in pandas."""
    mapping = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}
    return table.to_pandas(types_mapper=mapping.get, date_as_object=False)


@dataclass
class World:
    """A generated demo world: the input tables and, kept apart, the truth behind them.

    Input frames carry the contract's column names; integer and boolean columns use
    pandas' nullable dtypes, dates are ``datetime64``.  ``truth`` holds ``wallet``,
    ``next_year`` and ``accounts`` (see ``docs/demo-world.md``).
    """

    n_accounts: int
    seed: int
    as_of: dt.date
    accounts: pd.DataFrame
    transactions: pd.DataFrame
    products: pd.DataFrame
    reps: pd.DataFrame
    territories: pd.DataFrame
    opportunities: pd.DataFrame
    assessments: pd.DataFrame
    contacts: pd.DataFrame
    competitors: pd.DataFrame
    signals: pd.DataFrame
    external_potential: pd.DataFrame
    truth: dict[str, pd.DataFrame] = field(default_factory=dict)
    regime: str = "default"

    def tables(self) -> dict[str, pd.DataFrame]:
        """The input tables by contract name, in load order."""
        return {name: getattr(self, name) for name in INPUT_TABLES}


def generate_world(n_accounts: int | None = None, seed: int = 42, *,
                   regime: str | Regime | None = None) -> World:
    """Generate a whole demo world in memory (comfortable up to ~100k accounts).

    ``regime`` names a market that breaks one of the default world's comforts
    (:data:`REGIMES`); ``n_accounts`` defaults to the regime's size (5,000; tiny 160).
    """
    reg = resolve_regime(regime)
    n_accounts = reg.n_accounts if n_accounts is None else n_accounts
    _check(n_accounts)
    ctx = _Context(n_accounts, seed, reg)
    parts: dict[str, list[pa.Table]] = {}
    for block in range(_blocks(n_accounts)):
        for name, t in _generate_block(ctx, block).items():
            parts.setdefault(name, []).append(t)
    tables = {k: pa.concat_tables(v) for k, v in parts.items()}
    tables.update(ctx.layout_tables())
    frames = {k: _to_pandas(t) for k, t in tables.items()}
    truth = {k: frames.pop(f"truth_{k}") for k in TRUTH_TABLES}
    return World(n_accounts=n_accounts, seed=seed, as_of=DEMO_AS_OF, truth=truth,
                 regime=reg.name, **frames)


def write_world_parquet(
    out_dir: str | Path,
    n_accounts: int | None = None,
    seed: int = 42,
    chunk_accounts: int = 50_000,
    progress: Progress | None = None,
    *,
    bad_rows: bool = False,
    regime: str | Regime | None = None,
) -> dict[str, Path]:
    """Stream a demo world to one Parquet file per table, chunk by chunk.

    Only one chunk (``chunk_accounts``, rounded up to whole blocks of 1,000 accounts) is
    held at a time, so memory stays flat whatever ``n_accounts``; each chunk becomes a
    row group.  Returns ``{table: path}`` with truth tables as ``truth_<name>``.
    ``regime`` and the default size are as for :func:`generate_world`.  With
    ``bad_rows`` a handful of deliberately broken rows goes into the input files (and
    ``truth_bad_rows`` lists them) so a load shows quarantine and data quality at work.
    """
    from growthmap.demo._bad_rows import BadRowInjector

    reg = resolve_regime(regime)
    n_accounts = reg.n_accounts if n_accounts is None else n_accounts
    _check(n_accounts, chunk_accounts)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ctx = _Context(n_accounts, seed, reg)
    injector = BadRowInjector() if bad_rows else None
    paths: dict[str, Path] = {}
    for name, t in ctx.layout_tables().items():
        if injector:
            t = injector.inject(name, t)
        paths[name] = out / f"{name}.parquet"
        pq.write_table(t, paths[name], compression="zstd")

    writers: dict[str, pq.ParquetWriter] = {}
    per_chunk = max(1, math.ceil(chunk_accounts / BLOCK))
    n_blocks = _blocks(n_accounts)
    try:
        for first in range(0, n_blocks, per_chunk):
            parts: dict[str, list[pa.Table]] = {}
            for block in range(first, min(first + per_chunk, n_blocks)):
                for name, t in _generate_block(ctx, block).items():
                    parts.setdefault(name, []).append(t)
            for name, ts in parts.items():
                t = pa.concat_tables(ts)
                if injector and first == 0:
                    t = injector.inject(name, t)
                if name not in writers:
                    paths[name] = out / f"{name}.parquet"
                    writers[name] = pq.ParquetWriter(paths[name], t.schema,
                                                     compression="zstd")
                writers[name].write_table(t, row_group_size=max(t.num_rows, 1))
            del parts
            if progress:
                done = min((first + per_chunk) * BLOCK, n_accounts)
                progress(f"generated {done:,} of {n_accounts:,} accounts")
    finally:
        for w in writers.values():
            w.close()
    if injector:
        paths["truth_bad_rows"] = out / "truth_bad_rows.parquet"
        pq.write_table(injector.table(), paths["truth_bad_rows"])
    return paths
