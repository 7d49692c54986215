"""Scoring a LightGBM model of small trees by its splits rather than its paths.

At a million accounts the potential's cost is scoring: each fold model scores a quarter
of all accounts, 150 trees deep, in every family.  Walking a row down each tree
(LightGBM's own ``predict``, :class:`growthmap.models._trees.CompiledTrees`) costs about
25-35 ns per tree and row on this kind of machine, most of it waiting on one
data-dependent load after another.  QuickScorer (Lucchese et al., SIGIR 2015) turns
this around: per feature, the splits of *all* trees sorted by threshold; at every split
a row fails (its value goes right) the leaves of that split's left subtree are cleared
from a per-tree bit mask.  The leftmost leaf still set is the leaf the row reaches --
exactly the traversal's, decisions included.  The splits a value fails are a prefix of
the sorted list, so every 16 splits the masks so far are stored ANDed together: a row
ANDs one stored row of masks (one word per tree, vectorised) and at most 15 single
splits per numeric feature, and one stored row per categorical feature.  At 150 trees of
15 leaves that is about 6 ns per tree and row, a quarter of a traversal's cost.

What LightGBM can put in a tree is covered: numeric splits with missing values sent
either way (``missing_type`` None or NaN; a NaN in a ``None`` split reads as 0, as in
LightGBM), and categorical splits (membership in the set that goes left; NaN, negative
or unseen categories go right).  Models with ``missing_type = Zero`` splits or trees of
more than 64 leaves are refused (:class:`Unsupported`), and the caller scores them by
traversal instead.

The drivers come from the same leaves: per tree and leaf, the Saabas path effect of
every feature (the moves of the node value credited to each split's feature, as in
``CompiledTrees``) is tabulated once, and a row's effects are the sums over its leaves.
The raw score is the sum of the leaf values in tree order, as LightGBM adds them.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

__all__ = ["QuickScorer", "Unsupported"]

_DEBRUIJN = 0x03F79D71B4CB0A89  # de Bruijn sequence: the lowest set bit's position


class Unsupported(ValueError):
    """The model has a split this scorer does not handle (score by traversal)."""


def _debruijn_table() -> np.ndarray:
    table = np.zeros(64, dtype=np.int64)
    for i in range(64):
        table[(((1 << i) * _DEBRUIJN) & ((1 << 64) - 1)) >> 58] = i
    return table


class QuickScorer:
    """A LightGBM booster's splits, sorted per feature (see the module doc).

    Inputs to :meth:`predict` are float matrices laid out as the booster was trained
    (categorical columns as integer codes, missing as NaN).
    """

    def __init__(self, booster: Any) -> None:
        dump = booster.dump_model()
        self.n_features = nf = int(dump["max_feature_idx"]) + 1
        trees = dump["tree_info"]
        self.n_trees = len(trees)
        width = max([int(t["num_leaves"]) for t in trees] or [1])
        if width > 64:
            raise Unsupported("trees of more than 64 leaves")
        self.leaf_value = np.zeros((self.n_trees, width))
        self.leaf_effect = np.zeros((self.n_trees, width, nf))
        self.all_leaves = np.zeros(self.n_trees, dtype=np.uint64)
        num: list[list[tuple[float, int, int]]] = [[] for _ in range(nf)]  # thr, tree, node
        nan_right: list[list[int]] = [[] for _ in range(nf)]
        cat: list[list[tuple[set[int], int]]] = [[] for _ in range(nf)]  # left set, node
        masks: list[int] = []
        tree_of: list[int] = []
        for t, tree in enumerate(trees):
            n_leaves = self._tabulate(t, tree["tree_structure"], num, nan_right, cat,
                                      masks, tree_of, nf)
            self.all_leaves[t] = np.uint64((1 << n_leaves) - 1)
        self._build_index(num, nan_right, cat, masks, tree_of)
        self.debruijn = _debruijn_table()

    def _tabulate(self, t: int, root: dict[str, Any], num: list, nan_right: list,
                  cat: list, masks: list[int], tree_of: list[int], nf: int) -> int:
        """Number the leaves left to right, record every split, tabulate the leaves."""
        counter = [0]

        def walk(node: dict[str, Any], moves: np.ndarray) -> tuple[int, int]:
            """(first leaf, one past the last leaf) of ``node``'s subtree."""
            if "split_feature" not in node:
                leaf = counter[0]
                counter[0] += 1
                self.leaf_value[t, leaf] = float(node.get("leaf_value", 0.0))
                self.leaf_effect[t, leaf] = moves
                return leaf, leaf + 1
            f, v = int(node["split_feature"]), float(node["internal_value"])
            if node["missing_type"] not in ("None", "NaN"):
                raise Unsupported(f"missing_type {node['missing_type']}")
            kids = []
            for side in ("left_child", "right_child"):
                child = node[side]
                cv = float(child["leaf_value"] if "split_feature" not in child
                           else child["internal_value"])
                step = moves.copy()
                step[f] += cv - v
                kids.append(walk(child, step))
            (lo, mid), (_, hi) = kids
            k = len(masks)
            masks.append(((1 << 64) - 1) ^ (((1 << (mid - lo)) - 1) << lo))
            tree_of.append(t)
            if node["decision_type"] == "==":
                left = {int(c) for c in str(node["threshold"]).split("||") if c != ""}
                cat[f].append((left, k))
            else:
                thr = float(node["threshold"])
                num[f].append((thr, t, k))
                if (node["missing_type"] == "NaN" and not node["default_left"]) or (
                        node["missing_type"] == "None" and not thr >= 0.0):
                    nan_right[f].append(k)
            return lo, hi

        if "split_feature" not in root:  # a one-leaf tree
            self.leaf_value[t, 0] = float(root.get("leaf_value", 0.0))
            return 1
        walk(root, np.zeros(nf))
        return counter[0]

    def _build_index(self, num: list, nan_right: list, cat: list, masks: list[int],
                     tree_of: list[int]) -> None:
        """Per feature, the masks a row applies, as rows of one dense (rows x trees) table:

        * numeric: the splits sorted by threshold, and every ``_STRIDE`` of them the AND
          of the masks so far (a checkpoint), so a row ANDs one checkpoint row and scans
          fewer than ``_STRIDE`` splits one by one;
        * categorical: per category value the AND of the masks of the splits it fails
          (the last value stands for every unseen one);
        * the AND of the splits a NaN fails (for a categorical feature, all of them).
        """
        n_trees = self.n_trees
        ones = (1 << 64) - 1
        dense: list[np.ndarray] = []

        def row(pairs: Any) -> int:
            vec = np.full(n_trees, ones, dtype=np.uint64)
            for k in pairs:
                vec[tree_of[k]] &= np.uint64(masks[k])
            dense.append(vec)
            return len(dense) - 1

        kind = np.full(self.n_features, 2, dtype=np.int64)  # 0 numeric, 1 category, 2 unused
        nan_row = np.zeros(self.n_features, dtype=np.int64)
        first = np.zeros(self.n_features, dtype=np.int64)  # checkpoint 0 or category 0
        card = np.zeros(self.n_features, dtype=np.int64)
        thr: list[float] = []
        node: list[int] = []
        num_start = [0]
        for f in range(self.n_features):
            splits = sorted(num[f], key=lambda s: (s[0], s[1], s[2]))
            if splits:
                kind[f] = 0
                ks = [k for _, _, k in splits]
                first[f] = row([])
                for q in range(1, len(ks) // _STRIDE + 1):
                    dense.append(dense[-1].copy())
                    for k in ks[(q - 1) * _STRIDE: q * _STRIDE]:
                        dense[-1][tree_of[k]] &= np.uint64(masks[k])
                thr += [th for th, _, _ in splits]
                node += ks
                nan_row[f] = row(nan_right[f])
            elif cat[f]:
                kind[f] = 1
                card[f] = max([max(s) + 1 for s, _ in cat[f] if s] or [0]) + 1  # +unseen
                first[f] = len(dense)
                for value in range(int(card[f])):
                    row(k for s, k in cat[f] if value not in s or value == card[f] - 1)
                nan_row[f] = row(k for _, k in cat[f])
            num_start.append(len(thr))
        ks = np.asarray(node, dtype=np.int64)
        self.thr = np.asarray(thr, dtype=np.float64)
        self.num = (np.asarray(tree_of, dtype=np.int64)[ks] if len(ks) else ks,
                    np.asarray(masks, dtype=np.uint64)[ks] if len(ks) else
                    np.zeros(0, np.uint64))
        self.index = (kind, nan_row, first, card, np.asarray(num_start, dtype=np.int64))
        self.dense = (np.vstack(dense) if dense
                      else np.zeros((0, n_trees), dtype=np.uint64))

    def predict(self, X: Any, *, top: int = 0, n_jobs: int = 1
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(raw score, driver feature index, driver effect) per row, as
        ``CompiledTrees.predict`` gives them: the ``top`` largest path effects by
        absolute value, largest first (index -1 and effect 0 where there are fewer)."""
        x = np.ascontiguousarray(X, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] < self.n_features:
            raise ValueError(f"expected a matrix with {self.n_features} columns, got "
                             f"shape {x.shape}")
        previous = numba.get_num_threads()
        numba.set_num_threads(max(1, min(int(n_jobs), numba.config.NUMBA_NUM_THREADS)))
        try:
            return _score(x, *self.index, self.thr, *self.num, self.dense,
                          self.all_leaves, self.leaf_value, self.leaf_effect, self.debruijn,
                          int(top))
        finally:
            numba.set_num_threads(previous)


_BLOCK = 512
#: Numeric splits between two checkpoints (see ``_build_index``).
_STRIDE = 16


@numba.njit(cache=True, parallel=True)
def _score(x: np.ndarray, kind: np.ndarray, nan_row: np.ndarray, first: np.ndarray,
           card: np.ndarray, num_start: np.ndarray, thr: np.ndarray, num_tree: np.ndarray,
           num_mask: np.ndarray, dense: np.ndarray, all_leaves: np.ndarray,
           leaf_value: np.ndarray, leaf_effect: np.ndarray, debruijn: np.ndarray, top: int
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n, nf = x.shape[0], leaf_effect.shape[2]
    n_trees = all_leaves.shape[0]
    raw = np.zeros(n)
    top_idx = np.full((n, max(top, 0)), -1, dtype=np.int32)
    top_val = np.zeros((n, max(top, 0)))
    n_blocks = (n + _BLOCK - 1) // _BLOCK
    for b in numba.prange(n_blocks):
        leaves = np.empty(n_trees, dtype=np.uint64)
        eff = np.zeros(nf)
        for i in range(b * _BLOCK, min(n, (b + 1) * _BLOCK)):
            leaves[:] = all_leaves
            for f in range(nf):
                k = kind[f]
                if k == 2:
                    continue
                v = x[i, f]
                scan_from, scan_to = 0, 0
                if np.isnan(v) or (k == 1 and v < 0):
                    r = nan_row[f]
                elif k == 1:
                    r = first[f] + min(int(v), card[f] - 1)
                else:
                    s = num_start[f]
                    p = np.searchsorted(thr[s:num_start[f + 1]], v)  # splits with thr < v
                    r = first[f] + p // _STRIDE
                    scan_from, scan_to = s + (p // _STRIDE) * _STRIDE, s + p
                for t in range(n_trees):
                    leaves[t] &= dense[r, t]
                for j in range(scan_from, scan_to):
                    leaves[num_tree[j]] &= num_mask[j]
            acc = 0.0
            if top > 0:
                eff[:] = 0.0
            for t in range(n_trees):
                m = leaves[t]
                leaf = debruijn[((m & (~m + np.uint64(1))) * np.uint64(0x03F79D71B4CB0A89))
                                >> np.uint64(58)]
                acc += leaf_value[t, leaf]
                if top > 0:
                    for f in range(nf):
                        eff[f] += leaf_effect[t, leaf, f]
            raw[i] = acc
            for k in range(top):  # the k largest |effect|, ties to the lower index
                best, best_abs = -1, 0.0
                for f in range(nf):
                    a = abs(eff[f])
                    if a > best_abs:
                        best, best_abs = f, a
                if best < 0:
                    break
                top_idx[i, k] = best
                top_val[i, k] = eff[best]
                eff[best] = 0.0
    return raw, top_idx, top_val
