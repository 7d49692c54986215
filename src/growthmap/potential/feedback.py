"""Reps' verdicts on potential, fed back into the published figure when the config says so.

With ``potential.feedback = "replace"`` the latest *too high* / *too low* verdict on an
account's total potential (``gm.feedback``, see :mod:`growthmap.read.feedback`) replaces
the model's figure in ``potential_account``, bounded by ``feedback_max_ratio`` around the
model's figure and never below the account's current value.  The model's own figure is
kept beside it (``potential_model``) with who adjusted it and when, so the card shows
both and the evaluation can later say who was closer.  With ``"off"`` (the default) the
verdicts are shown on the card and nothing else changes.

Verdicts on one family are applied the same way to that family's row of ``potential``
(bounded around the model's figure for the family, never below its current value, the
model's figure kept beside with who and when), and the account's total moves by what
the family moved — unless a verdict on the total replaces the total itself.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["apply_family_feedback", "apply_feedback", "reviewed_figures"]


def reviewed_figures(con, as_of) -> pd.DataFrame:
    """The latest verdict per account on its total, given on or before ``as_of``'s run
    (verdicts are about what people saw; a run uses every verdict stored so far)."""
    from growthmap.read.feedback import overrides

    fb = overrides(con)
    return fb[fb.family.isna()].drop(columns="family")


def apply_feedback(ctx, account: pd.DataFrame) -> pd.DataFrame:
    """``account`` (the potential stage's per-account table) with reviewed figures applied.

    Always adds ``potential_model``, ``adjusted_by`` and ``adjusted_at`` so the output's
    columns do not depend on the setting.
    """
    out = account.copy()
    if "potential_model" not in out:  # else family verdicts already moved the total
        out["potential_model"] = out.potential.astype(float)
        out["adjusted_by"] = pd.Series(pd.NA, index=out.index, dtype="string")
        out["adjusted_at"] = pd.Series(pd.NaT, index=out.index, dtype="datetime64[us]")
    cfg = ctx.config.potential
    con = getattr(ctx.source, "con", None)
    if cfg.feedback == "off" or con is None:
        if cfg.feedback != "off":
            ctx.note("potential: reps' feedback is only read from a workspace run; the model's "
                     "figures are published")
        return out
    fb = reviewed_figures(con, ctx.as_of)  # gm.feedback is part of every workspace
    if fb.empty:
        return out
    fb = fb.set_index(fb.account_id.astype(str))
    idx = out.account_id.astype(str)
    hit = idx.isin(fb.index).to_numpy()
    if not hit.any():
        return out
    rows = fb.reindex(idx[hit])
    model = out.potential_model.to_numpy()[hit]
    current = out.current.astype(float).to_numpy()[hit]
    ratio = float(cfg.feedback_max_ratio)
    figure = _bounded(rows.figure.to_numpy(float), model, current, ratio)
    bounded = int(np.sum(~np.isclose(figure, rows.figure.to_numpy(float))))
    scale = np.divide(figure, model, out=np.ones_like(figure), where=model > 0)
    out.loc[hit, "potential"] = figure
    out.loc[hit, "low"] = np.minimum(out.low.to_numpy()[hit] * scale, figure)
    out.loc[hit, "high"] = np.maximum(out.high.to_numpy()[hit] * scale, figure)
    out.loc[hit, "whitespace"] = np.maximum(figure - current, 0.0)
    out.loc[hit, "share_of_wallet"] = np.where(figure > 0, current / figure, np.nan)
    out.loc[hit, "adjusted_by"] = rows.username.astype("string").to_numpy()
    out.loc[hit, "adjusted_at"] = pd.to_datetime(rows.created_at).to_numpy()
    ctx.note(f"potential: {int(hit.sum())} accounts publish a rep's reviewed figure instead of "
             f"the model's (potential.feedback = replace)"
             + (f"; {bounded} held within {ratio:g}x of the model's figure or at current "
                "value" if bounded else ""))
    return out


def _bounded(asked: np.ndarray, model: np.ndarray, current: np.ndarray,
             ratio: float) -> np.ndarray:
    """The reviewed figure held within ``ratio`` of the model's and at least current."""
    base = np.maximum(model, 1.0)
    return np.maximum(np.clip(asked, base / ratio, base * ratio), current)


def apply_family_feedback(ctx, potential: pa.Table, account: pd.DataFrame
                          ) -> tuple[pa.Table, pd.DataFrame]:
    """``potential`` (per account and family) with reps' verdicts on single families
    applied, and ``account`` with each total moved by what its families moved.

    Always adds ``potential_model``, ``adjusted_by`` and ``adjusted_at`` to the family
    table (the model's column itself, and nulls, when nothing is applied: no copy of a
    large table), and to the accounts as :func:`apply_feedback` would.
    """
    n = potential.num_rows
    model = potential["potential"]
    by = pa.nulls(n, pa.string())
    at = pa.nulls(n, pa.timestamp("us"))
    acc = account.copy()
    acc["potential_model"] = acc.potential.astype(float)
    acc["adjusted_by"] = pd.Series(pd.NA, index=acc.index, dtype="string")
    acc["adjusted_at"] = pd.Series(pd.NaT, index=acc.index, dtype="datetime64[us]")
    con = getattr(ctx.source, "con", None)
    fb = None
    if ctx.config.potential.feedback != "off" and con is not None:
        from growthmap.read.feedback import overrides

        fb = overrides(con)
        fb = fb[fb.family.notna()]
    if fb is None or fb.empty:
        return _with_model(potential, model, by, at), acc
    rows = np.flatnonzero(pc.is_in(potential["account_id"], value_set=pa.array(
        fb.account_id.astype(str).unique())).to_numpy(zero_copy_only=False))
    cells = potential.take(rows).select(
        ["account_id", "family", "current", "potential", "low", "high", "whitespace",
         "whitespace_competitor"]).to_pandas()
    key = cells.account_id.astype(str) + "\x1f" + cells.family.astype(str)
    fb_key = fb.account_id.astype(str) + "\x1f" + fb.family.astype(str)
    verdict = fb.set_index(fb_key.to_numpy())
    hit = key.isin(verdict.index).to_numpy()
    if not hit.any():
        return _with_model(potential, model, by, at), acc
    cells, rows = cells[hit], rows[hit]
    v = verdict.reindex(key[hit].to_numpy())
    ratio = float(ctx.config.potential.feedback_max_ratio)
    old = cells.potential.to_numpy(float)
    cur = cells.current.to_numpy(float)
    fig = _bounded(v.figure.to_numpy(float), old, cur, ratio)
    scale = np.divide(fig, old, out=np.ones_like(fig), where=old > 0)
    ws = np.maximum(fig - cur, 0.0)
    held = np.minimum(cells.whitespace_competitor.to_numpy(float), ws)
    new = {"potential": fig, "low": np.minimum(cells.low.to_numpy(float) * scale, fig),
           "high": np.maximum(cells.high.to_numpy(float) * scale, fig), "whitespace": ws,
           "whitespace_open": np.maximum(ws - held, 0.0), "whitespace_competitor": held,
           "share_of_wallet": np.where(fig > 0, cur / np.where(fig > 0, fig, 1.0), np.nan)}
    for name, values in new.items():
        col = potential[name].to_numpy().astype(float, copy=True)
        col[rows] = values
        potential = potential.set_column(potential.schema.get_field_index(name), name,
                                         pa.array(col, type=potential.schema.field(name).type))
    by_np = np.full(n, None, dtype=object)
    by_np[rows] = v.username.astype(str).to_numpy()
    at_np = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    at_np[rows] = pd.to_datetime(v.created_at).to_numpy().astype("datetime64[us]")
    out = _with_model(potential, model, pa.array(by_np, type=pa.string()),
                      pa.array(at_np, type=pa.timestamp("us")))
    # the account's total moves by what its families moved
    moved = pd.DataFrame({"account_id": cells.account_id.astype(str).to_numpy(),
                          "d_pot": fig - old, "d_ws": ws - cells.whitespace.to_numpy(float),
                          "by": v.username.astype(str).to_numpy(),
                          "at": pd.to_datetime(v.created_at).to_numpy()})
    g = moved.groupby("account_id").agg(d_pot=("d_pot", "sum"), d_ws=("d_ws", "sum"),
                                        by=("by", "last"), at=("at", "max"))
    ids = acc.account_id.astype(str)
    hit_acc = ids.isin(g.index).to_numpy()
    d = g.reindex(ids[hit_acc])
    pot = acc.potential.to_numpy(float)[hit_acc] + d.d_pot.to_numpy()
    current = acc.current.astype(float).to_numpy()[hit_acc]
    acc.loc[hit_acc, "potential"] = pot
    acc.loc[hit_acc, "low"] = np.minimum(acc.low.to_numpy(float)[hit_acc]
                                         + np.minimum(d.d_pot.to_numpy(), 0.0), pot)
    acc.loc[hit_acc, "high"] = np.maximum(acc.high.to_numpy(float)[hit_acc]
                                          + np.maximum(d.d_pot.to_numpy(), 0.0), pot)
    acc.loc[hit_acc, "whitespace"] = acc.whitespace.to_numpy(float)[hit_acc] + d.d_ws.to_numpy()
    acc.loc[hit_acc, "share_of_wallet"] = np.where(pot > 0, current / np.where(pot > 0, pot,
                                                                               1.0), np.nan)
    acc.loc[hit_acc, "adjusted_by"] = d.by.astype("string").to_numpy()
    acc.loc[hit_acc, "adjusted_at"] = pd.to_datetime(d["at"]).to_numpy()
    bounded = int(np.sum(~np.isclose(fig, v.figure.to_numpy(float))))
    ctx.note(f"potential: {int(hit.sum())} family figures of {int(hit_acc.sum())} accounts are "
             "a rep's reviewed figure instead of the model's (potential.feedback = replace); "
             "their accounts' totals move by as much"
             + (f"; {bounded} held within {ratio:g}x of the model's figure or at current "
                "value" if bounded else ""))
    return out, acc


def _with_model(potential: pa.Table, model: pa.ChunkedArray | pa.Array, by: pa.Array,
                at: pa.Array) -> pa.Table:
    return (potential.append_column("potential_model", model)
            .append_column("adjusted_by", by).append_column("adjusted_at", at))
