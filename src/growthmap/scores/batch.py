"""Scoring every account as of the run, where the account features live.

The models stage trains on the driver (on a sample of accounts when the data is large,
see :class:`growthmap.scores.stage.CutoffFeatures`), but it scores *every* account at the
as-of date -- on Spark, far more rows than the driver should hold.  So the fitted models
are packed into an :class:`AccountScorer`, a small picklable object that turns a batch
of as-of feature rows into per-account scores (propensity with its drivers, per-family
propensity, risk with its drivers).  A batch is scored independently of every other
batch, so the same object runs

* in-process on the whole frame, on DuckDB (or any backend but Spark), and
* on the Spark executors through ``mapInPandas``, one Arrow batch at a time
  (:func:`growthmap.runner.spark_run.map_in_pandas`): the as-of features are computed and scored
  on the cluster, and only the scores come back to the driver.

Both give identical figures: the scorer applies the very rounding and encoding the
training frames had, and rows are sorted by account before anything order-sensitive.
What needs every account at once (deciles, the run's outputs) is done on the driver
from the small per-account result, by :func:`propensity_table`, :func:`family_table`
and :func:`risk_table`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from growthmap import __version__
from growthmap.models.propensity import (
    PackedClassifier,
    PropensityClassifier,
    drivers_json,
)
from growthmap.models.risk import REASON_NO_REVENUE, REASON_PROSPECT
from growthmap.runner.spark_run import VERSION_MISMATCH, map_in_pandas
from growthmap.scores.features import Vocabulary, describe, encode

__all__ = [
    "REV_LAST",
    "VERSION_MISMATCH",
    "AccountScorer",
    "deciles",
    "family_table",
    "propensity_table",
    "risk_table",
    "score_accounts",
]

#: Column of the scoring frame with each account's net revenue in the last H months
#: (who is in the risk population); not a model feature.
REV_LAST = "_rev_last"
#: Decimals the features are rounded to, as in ``CutoffFeatures.frame``: float sums
#: differ in the last bits between engines, rounded they are the same numbers.
DECIMALS = 6


@dataclass
class AccountScorer:
    """The fitted models of a run, packed to score batches of as-of feature rows anywhere.

    ``features`` are the model matrix columns in training order; ``families`` the
    (family, slug) pairs of the per-family model in vocabulary order.  A model that was
    skipped is ``None`` and its columns are absent from the output.
    """

    vocab: Vocabulary
    features: tuple[str, ...]
    drivers: int = 3
    propensity: PackedClassifier | None = None
    family: PackedClassifier | None = None
    families: tuple[tuple[str, str], ...] = ()
    risk: PackedClassifier | None = None
    #: feature columns passed through as ``x_<name>`` (the baselines' inputs)
    keep: tuple[str, ...] = ()
    code_version: str = __version__

    @classmethod
    def pack(cls, vocab: Vocabulary, features: Sequence[str], *, drivers: int = 3,
             propensity: PropensityClassifier | None = None,
             family: PropensityClassifier | None = None,
             risk: PropensityClassifier | None = None,
             keep: Sequence[str] = ()) -> AccountScorer:
        """A scorer of fitted estimators (each packed, see :class:`PackedClassifier`)."""
        return cls(vocab=vocab, features=tuple(features), drivers=drivers,
                   keep=tuple(c for c in keep if c in features),
                   propensity=propensity.pack() if propensity is not None else None,
                   family=family.pack() if family is not None else None,
                   families=tuple(vocab.family_slugs().items()) if family is not None else (),
                   risk=risk.pack() if risk is not None else None)

    def output_types(self) -> dict[str, str]:
        """Columns of :meth:`__call__`'s frame and their (Ibis) types."""
        out = {"account_id": "string"}
        out.update({f"x_{c}": "float64" for c in self.keep})
        if self.propensity is not None:
            out.update(ptb="float64", ptb_drivers="string")
        if self.family is not None:
            for k in range(len(self.families)):
                out.update({f"fam_{k}_ptb": "float64", f"fam_{k}_new": "boolean"})
        if self.risk is not None:
            out.update(risk_population="boolean", risk="float64", risk_drivers="string",
                       ever_bought="boolean")
        return out

    def matrix(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Model matrix of a feature frame: encoded, rounded, in training column order."""
        x = encode(frame.drop(columns=[REV_LAST], errors="ignore"), self.vocab)
        x = x.round(DECIMALS)
        missing = [c for c in self.features if c not in x.columns]
        if missing:
            raise ValueError(f"the as-of features lack column(s) {missing[:5]}, which the "
                             "models were trained on")
        return x[list(self.features)]

    def _drivers(self, idx: np.ndarray, eff: np.ndarray) -> np.ndarray:
        return drivers_json(idx, eff, list(self.features), lambda n: describe(n, self.vocab))

    def __call__(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Per-account scores of one batch of as-of feature rows (any subset of accounts)."""
        x = self.matrix(frame)
        n = len(x)
        out: dict[str, np.ndarray] = {"account_id": frame["account_id"].astype(str).to_numpy()}
        for c in self.keep:
            out[f"x_{c}"] = x[c].to_numpy(dtype=np.float64)
        if self.propensity is not None:
            p, idx, eff = self.propensity.explain(x, top=self.drivers)
            out.update(ptb=p, ptb_drivers=self._drivers(idx, eff))
        if self.family is not None:
            # one family at a time, in one matrix: the account columns are filled once and
            # only the family's own columns (family_block's) are overwritten per family
            names = self.family.feature_names
            xf = np.full((n, len(names)), np.nan)
            own = []
            for i, c in enumerate(names):
                if c in x.columns:
                    xf[:, i] = x[c].to_numpy(dtype=np.float64)
                elif c.startswith("fam_") or c == "family":
                    own.append((i, c))
                else:
                    raise ValueError(f"the as-of features lack column {c!r}, which the "
                                     "per-family model was trained on")
            for k, (_, slug) in enumerate(self.families):
                for i, c in own:
                    src = f"f_{slug}_{c[4:]}"
                    xf[:, i] = (float(k) if c == "family" else
                                x[src].to_numpy(dtype=np.float64) if src in x.columns else np.nan)
                out[f"fam_{k}_ptb"] = self.family.probability(xf)
                rev = f"f_{slug}_rev_12m"
                out[f"fam_{k}_new"] = (x[rev].to_numpy() <= 0 if rev in x.columns
                                       else np.ones(n, dtype=bool))
            del xf
        if self.risk is not None:
            # rounded like the features: a net zero summed in another order on another
            # engine (1e-13 or -1e-13) must not put an account in or out of the population
            last = (pd.to_numeric(frame[REV_LAST], errors="coerce").astype("float64")
                    .fillna(0.0).round(DECIMALS).to_numpy())
            pop = last > 0
            risk = np.full(n, np.nan)
            drivers = np.full(n, "[]", dtype=object)
            if pop.any():
                p, idx, eff = self.risk.explain(x[pop], top=self.drivers)
                risk[pop] = p
                drivers[pop] = self._drivers(idx, eff)
            out.update(risk_population=pop, risk=risk, risk_drivers=drivers,
                       ever_bought=x["families_ever"].to_numpy() > 0)
        return pd.DataFrame(out)

    def batches(self, frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        """Score a stream of batches (the ``mapInPandas`` function, run on executors).

        An executor with another growthmap version could encode or score differently
        and break the run's reproducibility, so it refuses to score.
        """
        import growthmap

        if growthmap.__version__ != self.code_version:
            raise RuntimeError(f"{VERSION_MISMATCH}: the driver runs {self.code_version}, "
                               f"this executor {growthmap.__version__}")
        for frame in frames:
            yield self(frame)


#: Rows scored at a time in-process: the model matrix and the drivers of one batch are
#: what scoring holds beyond the features (a million accounts at once peaked at 6 GB).
BATCH_ROWS = 131_072


def score_accounts(features: ir.Table, scorer: AccountScorer) -> pd.DataFrame:
    """Score the accounts of an as-of feature expression where its backend runs it.

    On Spark the features never reach the driver: they are computed and scored on the
    executors and only the scores are collected (as Arrow).  Elsewhere the features are
    executed to Arrow and scored in-process, :data:`BATCH_ROWS` rows at a time, as an
    executor scores its batches.  Rows come back sorted by account id.
    """
    backend = features.get_backend()
    if backend.name == "pyspark":
        scores = map_in_pandas(backend, features, scorer.batches,
                               scorer.output_types()).to_pandas()
    else:
        # executed whole, then scored in slices: streaming the engine's batches instead
        # kept DuckDB's working memory of the query alive while the first batch was
        # scored (+370 MB at 200,000 accounts) -- it holds the whole result either way
        table = features.to_pyarrow()
        parts = [scorer(table.slice(i, BATCH_ROWS).to_pandas())
                 for i in range(0, max(table.num_rows, 1), BATCH_ROWS)]
        del table
        scores = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    return scores.sort_values("account_id", kind="stable", ignore_index=True)


# -- the run's outputs from the per-account scores (on the driver) ------------------------
def deciles(p: np.ndarray) -> np.ndarray:
    """1 = the 10% most likely, 10 = the least (ties share the better decile)."""
    ranks = pd.Series(-p).rank(method="min").to_numpy()
    return np.minimum(10, np.ceil(ranks / len(p) * 10)).astype(int) if len(p) else ranks


def propensity_table(scores: pd.DataFrame) -> pd.DataFrame:
    """``propensity``: account_id, ptb, ptb_decile, drivers."""
    p = scores["ptb"].to_numpy(dtype=float)
    return pd.DataFrame({"account_id": scores["account_id"].to_numpy(), "ptb": p,
                         "ptb_decile": deciles(p),
                         "drivers": scores["ptb_drivers"].to_numpy(dtype=object)})


def family_table(scores: pd.DataFrame, families: list[str]) -> pd.DataFrame:
    """``propensity_family``: one row per (family, account), family by family."""
    ids = scores["account_id"].to_numpy()
    parts = [pd.DataFrame({"account_id": ids, "family": fam,
                           "ptb": scores[f"fam_{k}_ptb"].to_numpy(dtype=float),
                           "new_family": scores[f"fam_{k}_new"].to_numpy(dtype=bool)})
             for k, fam in enumerate(families)]
    return pd.concat(parts, ignore_index=True)


def risk_table(scores: pd.DataFrame, horizon_months: int) -> pd.DataFrame:
    """``risk``: customers scored with deciles and drivers; others null with a reason."""
    pop = scores["risk_population"].to_numpy(dtype=bool)
    ever = scores["ever_bought"].to_numpy(dtype=bool)
    risk = np.where(pop, scores["risk"].to_numpy(dtype=float), np.nan)
    decile = np.full(len(risk), np.nan)
    if pop.any():
        decile[pop] = deciles(risk[pop])
    lapsed = REASON_NO_REVENUE.format(months=horizon_months)
    reason = np.where(pop, None, np.where(ever, lapsed, REASON_PROSPECT))
    drivers = np.where(pop, scores["risk_drivers"].to_numpy(dtype=object), "[]")
    return pd.DataFrame({"account_id": scores["account_id"].to_numpy(), "risk": risk,
                         "risk_decile": pd.array(decile, dtype="Int64"), "reason": reason,
                         "drivers": drivers.astype(object)})
