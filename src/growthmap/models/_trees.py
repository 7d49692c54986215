"""A LightGBM model compiled to flat arrays and evaluated by a numba kernel, with drivers.

Two things make LightGBM's own prediction the bottleneck at a million accounts: its
explanations (``pred_contrib``, TreeSHAP) cost O(leaves x depth^2) per tree and row --
about six minutes for a million rows of a 200-tree model on two cores -- and a plain
prediction cannot say why.  Here one pass over each row's decision paths gives both the
raw score and the row's top drivers:

* the raw score is the sum of the leaves reached, exactly LightGBM's (same decision
  rules for missing values, zeros and categories; a test compares them);
* the drivers are Saabas path attributions (``treeinterpreter``, XGBoost's
  ``approx_contribs``): every split moves the node value from the parent's to the
  child's, and the move is credited to the split's feature.  They add up exactly to the
  raw score minus the model's base value, like SHAP; unlike SHAP they can over-credit
  features split on deep in a tree, a fair trade for the top few drivers on a card.

Only the ``top`` largest effects per row are kept (by absolute value), so memory is
rows x top whatever the number of features.  Rows are spread over ``n_jobs`` threads.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

__all__ = ["CompiledTrees"]

_NONE, _ZERO, _NAN, _CATEGORY = 0, 1, 2, 3
_MISSING = {"None": _NONE, "Zero": _ZERO, "NaN": _NAN}
_ZERO_THRESHOLD = 1e-35  # LightGBM's kZeroThreshold


class CompiledTrees:
    """A LightGBM booster as node arrays (see the module doc).

    ``booster`` is a ``lightgbm.Booster``; inputs to :meth:`predict` are float matrices
    laid out as the booster was trained (categorical columns as their integer codes,
    missing as NaN).
    """

    def __init__(self, booster: Any) -> None:
        dump = booster.dump_model()
        self.n_features = int(dump["max_feature_idx"]) + 1
        self.feature_names = list(dump.get("feature_names", []))
        feat: list[int] = []
        thr: list[float] = []
        left: list[int] = []
        right: list[int] = []
        value: list[float] = []
        dleft: list[bool] = []
        missing: list[int] = []
        cat_start: list[int] = []
        cat_len: list[int] = []
        cats: list[int] = []
        roots: list[int] = []

        def add(node: dict[str, Any]) -> int:
            """Append ``node`` and its subtree depth-first; return its index."""
            i = len(feat)
            for lst, v in ((feat, -1), (thr, 0.0), (left, -1), (right, -1), (dleft, False),
                           (missing, _NONE), (cat_start, 0), (cat_len, 0)):
                lst.append(v)  # type: ignore[attr-defined]
            if "split_feature" not in node:  # a leaf (or a one-leaf tree)
                value.append(float(node.get("leaf_value", 0.0)))
                return i
            value.append(float(node["internal_value"]))
            feat[i] = int(node["split_feature"])
            dleft[i] = bool(node["default_left"])
            missing[i] = _MISSING[node["missing_type"]]
            if node["decision_type"] == "==":
                members = [int(c) for c in str(node["threshold"]).split("||") if c != ""]
                cat_start[i], cat_len[i] = len(cats), len(members)
                cats.extend(members)
                missing[i] = _CATEGORY
                thr[i] = np.nan
            else:
                thr[i] = float(node["threshold"])
            left[i] = add(node["left_child"])
            right[i] = add(node["right_child"])
            return i

        for tree in dump["tree_info"]:
            roots.append(add(tree["tree_structure"]))
        self.n_trees = len(roots)
        self._arrays = (
            np.asarray(feat, dtype=np.int32), np.asarray(thr, dtype=np.float64),
            np.asarray(left, dtype=np.int32), np.asarray(right, dtype=np.int32),
            np.asarray(value, dtype=np.float64), np.asarray(dleft, dtype=np.bool_),
            np.asarray(missing, dtype=np.int8), np.asarray(cat_start, dtype=np.int32),
            np.asarray(cat_len, dtype=np.int32), np.asarray(cats or [0], dtype=np.int64),
            np.asarray(roots, dtype=np.int32))
        self.base = float(np.asarray(value)[roots].sum()) if roots else 0.0

    def predict(self, X: Any, *, top: int = 0, n_jobs: int = 1
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(raw score, driver feature index, driver effect) per row.

        The drivers are the ``top`` largest path effects by absolute value, largest
        first (index -1 and effect 0 where a row has fewer non-zero effects).
        """
        x = np.ascontiguousarray(X, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] < self.n_features:
            raise ValueError(f"expected a matrix with {self.n_features} columns, got "
                             f"shape {x.shape}")
        previous = numba.get_num_threads()
        numba.set_num_threads(max(1, min(int(n_jobs), numba.config.NUMBA_NUM_THREADS)))
        try:
            return _evaluate(x, *self._arrays, int(top), self.n_features)
        finally:
            numba.set_num_threads(previous)


@numba.njit(cache=True, inline="always")
def _child(fval: float, node: int, thr: np.ndarray, left: np.ndarray, right: np.ndarray,
           dleft: np.ndarray, missing: np.ndarray, cat_start: np.ndarray,
           cat_len: np.ndarray, cats: np.ndarray) -> int:
    """LightGBM's decision at ``node`` for value ``fval`` (tree.h, Numerical/Categorical)."""
    mt = missing[node]
    if mt == _NONE:  # the common case first: no missing values seen at this split
        if fval <= thr[node] or (np.isnan(fval) and thr[node] >= 0.0):
            return left[node]
        return right[node]
    if mt == _CATEGORY:
        if np.isnan(fval) or fval < 0:
            return right[node]
        iv = int(fval)
        s = cat_start[node]
        for k in range(cat_len[node]):
            if cats[s + k] == iv:
                return left[node]
        return right[node]
    if np.isnan(fval) and mt != _NAN:
        fval = 0.0
    if (mt == _ZERO and abs(fval) <= _ZERO_THRESHOLD) or (mt == _NAN and np.isnan(fval)):
        return left[node] if dleft[node] else right[node]
    return left[node] if fval <= thr[node] else right[node]


@numba.njit(cache=True, parallel=True)
def _evaluate(x: np.ndarray, feat: np.ndarray, thr: np.ndarray, left: np.ndarray,
              right: np.ndarray, value: np.ndarray, dleft: np.ndarray, missing: np.ndarray,
              cat_start: np.ndarray, cat_len: np.ndarray, cats: np.ndarray,
              roots: np.ndarray, top: int, n_features: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = x.shape[0]
    raw = np.zeros(n)
    top_idx = np.full((n, max(top, 0)), -1, dtype=np.int32)
    top_val = np.zeros((n, max(top, 0)))
    for i in numba.prange(n):
        eff = np.zeros(n_features) if top > 0 else np.zeros(0)
        acc = 0.0
        for t in range(roots.shape[0]):
            node = roots[t]
            while feat[node] >= 0:
                f = feat[node]
                nxt = _child(x[i, f], node, thr, left, right, dleft, missing, cat_start,
                             cat_len, cats)
                if top > 0:
                    eff[f] += value[nxt] - value[node]
                node = nxt
            acc += value[node]
        raw[i] = acc
        for k in range(top):  # selection of the k largest |effect|, ties to the lower index
            best, best_abs = -1, 0.0
            for f in range(n_features):
                a = abs(eff[f])
                if a > best_abs:
                    best, best_abs = f, a
            if best < 0:
                break
            top_idx[i, k] = best
            top_val[i, k] = eff[best]
            eff[best] = 0.0
    return raw, top_idx, top_val
