"""Input checks the three potential estimators share.

DataFrames pass through untouched (text columns such as industry stay text, and a
million-row frame is not copied into an object array); anything else goes through
scikit-learn's ``check_array`` so arrays are rejected with the messages users of
scikit-learn know.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.utils import check_array, column_or_1d

from growthmap.errors import NotFittedError

__all__ = ["categories_of", "check_X", "check_fitted", "check_y",
           "codes_of"]


def check_fitted(est: Any, attr: str) -> None:
    """Raise :class:`~growthmap.errors.NotFittedError` when ``est`` has not been fitted."""
    if not hasattr(est, attr):
        raise NotFittedError(f"this {type(est).__name__} is not fitted yet",
                                 hint="call fit(X, y) before predicting")


def check_X(est: Any, X: Any, *, reset: bool, numeric: bool = False) -> pd.DataFrame:
    """``X`` as a DataFrame; records (``reset``) or checks the number of features."""
    name = type(est).__name__
    if sp.issparse(X):
        raise TypeError(f"{name} does not support sparse input; pass a dense array or a "
                        "DataFrame")
    if isinstance(X, pd.DataFrame):
        df = X
        if df.shape[0] == 0:
            raise ValueError(f"Found array with 0 sample(s) (shape={df.shape}) while a "
                             "minimum of 1 is required.")
        if df.shape[1] == 0:
            raise ValueError(f"Found array with 0 feature(s) (shape={df.shape}) while a "
                             "minimum of 1 is required.")
    else:
        arr = check_array(X, dtype="numeric" if numeric else None,
                          ensure_all_finite="allow-nan", estimator=est)
        df = pd.DataFrame(arr)
    names = None
    if isinstance(X, pd.DataFrame) and all(isinstance(c, str) for c in X.columns):
        names = np.asarray(X.columns, dtype=object)
    if reset:
        est.n_features_in_ = df.shape[1]
        if names is not None:
            est.feature_names_in_ = names
        elif hasattr(est, "feature_names_in_"):
            del est.feature_names_in_
    else:
        if df.shape[1] != est.n_features_in_:
            raise ValueError(f"X has {df.shape[1]} features, but {name} is expecting "
                             f"{est.n_features_in_} features as input.")
        fitted = getattr(est, "feature_names_in_", None)
        if fitted is not None and names is not None and list(fitted) != list(names):
            raise ValueError(f"The feature names should match those that were passed "
                             f"during fit: expected {list(fitted)}, got {list(names)}")
    return df


def check_y(y: Any) -> np.ndarray:
    """``y`` as a finite float vector (spend; 0 for no spend)."""
    if y is None:
        raise ValueError("requires y to be passed, but the target y is None")
    y = check_array(y, ensure_2d=False, dtype="numeric", ensure_all_finite=True,
                    input_name="y")
    return column_or_1d(y, warn=True).astype(float)


def _factorized(col: pd.Series) -> tuple[np.ndarray, list[str]]:
    """(code per row, -1 when missing; the text of each code).

    Values are read as text (``1`` and ``"1"`` alike); a column of a million rows is
    factorised once and only its few distinct values are turned into text.
    """
    if isinstance(col.dtype, pd.CategoricalDtype):
        return col.cat.codes.to_numpy().astype(np.int64), [str(c) for c in col.cat.categories]
    codes, uniq = pd.factorize(col, use_na_sentinel=True)
    return codes.astype(np.int64), [str(v) for v in uniq]


def categories_of(col: pd.Series) -> list[str]:
    """The sorted text of the values present in ``col`` (a categorical's unused
    categories do not count, so the result does not depend on the column's dtype)."""
    codes, text = _factorized(col)
    present = np.bincount(codes[codes >= 0], minlength=len(text)) > 0
    return sorted({t for t, p in zip(text, present, strict=True) if p})


def codes_of(col: pd.Series, categories: list[str]) -> np.ndarray:
    """Position of each value's text in ``categories``; -1 where missing or unseen."""
    codes, text = _factorized(col)
    lookup = pd.Index(categories, dtype=object).get_indexer(pd.Index(text, dtype=object))
    lookup = np.append(lookup, -1)  # code -1 (missing) reads the last slot
    return lookup[codes]
