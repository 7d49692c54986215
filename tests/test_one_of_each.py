"""One of each: a concept the code needs in several places is defined once."""

from __future__ import annotations

import ast

from sklearn.exceptions import NotFittedError as SkNotFittedError

import growthmap
from growthmap import errors
from tests.test_imports import PKG


def _classes() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path in PKG.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                out.setdefault(node.name, []).append(str(path.relative_to(PKG)))
    return out


def test_one_not_fitted_error_and_it_is_scikit_learns() -> None:
    assert issubclass(errors.NotFittedError, SkNotFittedError)
    assert issubclass(errors.NotFittedError, (ValueError, AttributeError))
    assert issubclass(errors.NotFittedError, errors.GrowthmapError)
    not_fitted = {n: p for n, p in _classes().items() if "notfitted" in n.lower()}
    assert not_fitted == {"NotFittedError": ["errors.py"]}


def test_one_snapshot_resolution() -> None:
    """Only the workspace's rule reads gm.snapshots to resolve latest / previous."""
    users = [str(p.relative_to(PKG)) for p in PKG.rglob("*.py")
             if '"previous"' in p.read_text() and "ORDER BY snapshot_id" in p.read_text()]
    assert users == ["workspace.py"], users
    assert growthmap.Workspace.resolve_snapshot.__doc__
