"""Reps' verdicts on potential, fed back into the published figure when the config says so.

With ``potential.feedback = "replace"`` the latest *too high* / *too low* verdict on an
account's total potential (``gm.feedback``, see :mod:`growthmap.read.feedback`) replaces
the model's figure in ``potential_account``, bounded by ``feedback_max_ratio`` around the
model's figure and never below the account's current value.  The model's own figure is
kept beside it (``potential_model``) with who adjusted it and when, so the card shows
both and the evaluation can later say who was closer.  With ``"off"`` (the default) the
verdicts are shown on the card and nothing else changes.

Verdicts on one family are not applied yet: the families keep the model's figures and a
note says how many such verdicts wait.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["apply_feedback", "reviewed_figures"]


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
    from growthmap.read.feedback import overrides

    fb = reviewed_figures(con, ctx.as_of)  # gm.feedback is part of every workspace
    waiting = int(overrides(con).family.notna().sum())
    if waiting:
        ctx.note(f"potential: {waiting} verdicts on single families are shown on the cards "
                 "but not applied (only verdicts on an account's total potential are)")
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
    base = np.maximum(model, 1.0)
    figure = np.clip(rows.figure.to_numpy(float), base / ratio, base * ratio)
    figure = np.maximum(figure, current)
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
