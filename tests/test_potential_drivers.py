"""The drivers' JSON text, written as bytes: valid JSON, the numbers json would give."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from growthmap.models.potential._drivers import GBMDrivers, PeerDrivers, json_lists


def test_every_list_parses_to_the_rounded_effects_and_quoted_names():
    rng = np.random.default_rng(0)
    names = ["employees", 'odd "name" \\ with é', "region"]
    idx = rng.integers(-1, 3, (5000, 3)).astype(np.int32)
    idx[:, 1:][idx[:, :1].repeat(2, axis=1) < 0] = -1  # -1 ends a row's list
    eff = rng.normal(0, 10, (5000, 3)) * rng.choice([1e-4, 1, 1e3], (5000, 3))
    eff[:5, 0] = [np.nan, np.inf, -np.inf, -0.0, 2.0]
    out = json_lists(idx, eff, names, n_jobs=2).to_pylist()
    for i, text in enumerate(out):
        got = json.loads(text)
        want = []
        for j in range(3):
            if idx[i, j] < 0:
                break
            e = np.round(np.nan_to_num(eff[i, j], nan=0.0, posinf=0.0, neginf=0.0), 3)
            want.append({"feature": names[idx[i, j]], "effect": float(e) + 0.0})
        assert got == want, (i, text)
    assert out[4] == '[{"feature": "employees", "effect": 2}]' or idx[4, 0] != 0


def test_gbm_and_peer_drivers_read_as_before():
    g = GBMDrivers(["employees", "industry"], np.array([[1, 0], [0, -1], [-1, -1]], np.int32),
                   np.log([[1.5, 0.8], [2.0, 1.0], [1.0, 1.0]]))
    idx, eff = g.entries(slice(0, 3))
    text = json_lists(idx, eff, g.names).to_pylist()
    assert [json.loads(t) for t in text] == [
        [{"feature": "industry", "effect": 0.5}, {"feature": "employees", "effect": -0.2}],
        [{"feature": "employees", "effect": 1.0}], []]
    p = PeerDrivers("employees", pd.Categorical(["steel x <50 employees", None]),
                    np.array([2.0, np.nan]), np.array([0.5, 1.0]))
    idx, eff = p.entries(slice(0, 2))
    text = json_lists(idx, eff, p.names).to_pylist()
    assert json.loads(text[0]) == [
        {"feature": "employees vs peers' median", "effect": 1.0},
        {"feature": "peer group: steel x <50 employees", "effect": -0.5}]
    assert json.loads(text[1])[1] == {"feature": "peer group: ", "effect": 0.0}
