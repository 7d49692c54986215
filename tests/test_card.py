"""The account card, built from real snapshots of a small world loaded through the loader."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from growthmap.cli import app
from growthmap.errors import NotFoundError
from growthmap.read.card import AccountCard, account_card
from tests.test_segments import AS_OF, make_workspace, others_outputs, run_with, small_world


@pytest.fixture(scope="module")
def two_snapshots(tmp_path_factory):
    """Snapshot 1 without the other stages' outputs, snapshot 2 with all of them."""
    tmp = tmp_path_factory.mktemp("card")
    world = small_world()
    ws = make_workspace(tmp, world)
    run_with(ws, {}, as_of=dt.date(2025, 3, 31))
    inj = others_outputs(world)
    ctx = run_with(ws, inj)
    ws.close()
    return tmp / "ws.duckdb", world, inj, ctx.frame("segments").set_index("account_id")


def _open(path):
    from growthmap.workspace import Workspace

    return Workspace.open(path, read_only=True)


def test_card_reads_every_part_from_the_snapshot(two_snapshots):
    path, world, inj, seg = two_snapshots
    acc = "A03"
    with _open(path) as ws:
        card = account_card(ws, acc)
    assert isinstance(card, AccountCard) and card.snapshot_id == 2 and card.as_of == AS_OF
    assert card.name == "Company 3" and card.status == "customer"
    # current by family = trailing 12 months of the transactions, computed here with pandas
    tx = world["transactions"].merge(world["products"], on="product_id")
    tx = tx[(tx.account_id == acc) & (pd.to_datetime(tx.date) > pd.Timestamp("2024-06-30"))
            & (pd.to_datetime(tx.date) <= pd.Timestamp(AS_OF))]
    want = tx.groupby("family").amount.sum()
    got = {f.family: f.current for f in card.families}
    assert got == pytest.approx({f: want.get(f, 0.0) for f in got})
    assert card.current == pytest.approx(want.sum())
    # potential, interval, whitespace split and peers as the potential stage published them
    pot = inj["potential"].set_index(["account_id", "family"]).loc[acc]
    for f in card.families:
        assert f.potential == pytest.approx(pot.loc[f.family, "potential"])
        assert (f.low, f.high) == pytest.approx((pot.loc[f.family, "low"],
                                                 pot.loc[f.family, "high"]))
        assert f.method == "peer_quantile" and f.drivers[0]["feature"] == "employees"
    assert card.whitespace_open == pytest.approx(pot.whitespace_open.sum())
    assert card.whitespace_competitor == pytest.approx(pot.whitespace_competitor.sum())
    assert len(card.competitors) == int((pot.whitespace_competitor > 0).sum())
    assert card.peers == [{"method": "peer_quantile", "peer_group": "industry"}]
    fam_ptb = inj["propensity_family"].set_index(["account_id", "family"]).ptb.loc[acc]
    assert {f.family: f.ptb for f in card.families} == fam_ptb.to_dict()
    # scores, segment and reasons agree with the segments table
    assert card.ptb == inj["propensity"].set_index("account_id").ptb[acc]
    assert card.icp_fit == inj["icp"].set_index("account_id").icp_fit[acc]
    assert [s.account_id for s in card.similar_best] == ["A00", "A01"]
    assert [s.name for s in card.similar_best] == ["Company 0", "Company 1"]
    assert card.risk == inj["risk"].set_index("account_id").risk[acc]
    for k in ("tier", "road", "risk_readiness", "care_model", "coverage_role",
              "next_best_offer"):
        assert getattr(card, k) == seg.loc[acc, k]
    assert "; ".join(card.reasons) == seg.loc[acc, "reasons"]
    assert card.reasons[0].startswith(f"Tier {card.tier}")
    assert {c.group for c in card.criteria} == {"need", "value", "behaviour"}
    assert not card.notes


def test_card_history_and_flags(two_snapshots):
    path, _world, _, _ = two_snapshots
    acc = "A35"  # a prospect without assessments
    with _open(path) as ws:
        card = account_card(ws, acc)
        first = account_card(ws, acc, snapshot=1)
    assert [h.snapshot_id for h in card.history] == [1, 2]
    assert card.history[0].as_of == dt.date(2025, 3, 31) and card.history[1].tier == card.tier
    assert card.status == "prospect" and card.current == 0
    assert "buyer_empowerment: no assessment (neutral 0.5 used)" in card.flags
    be = next(c for c in card.criteria if c.name == "buyer_empowerment")
    assert be.missing and be.score == 0.5 and be.group == "behaviour"
    # snapshot 1 had no potential / models: the card says so instead of failing
    assert first.potential is None and first.road is None and first.ptb is None
    assert any("no potential_account" in n for n in first.notes)


def test_card_is_json_serialisable(two_snapshots):
    path, *_ = two_snapshots
    with _open(path) as ws:
        card = account_card(ws, "A03")
    text = json.dumps(card.model_dump(mode="json"))
    back = AccountCard.model_validate_json(text)
    assert back == card


def test_unknown_account_names_the_id_and_close_matches(two_snapshots):
    path, *_ = two_snapshots
    with _open(path) as ws, pytest.raises(NotFoundError) as e:
        account_card(ws, "A3O")
    assert "'A3O'" in e.value.message and "A30" in e.value.hint
    with _open(path) as ws, pytest.raises(NotFoundError, match="no snapshot 9"):
        account_card(ws, "A03", snapshot=9)


def test_card_command(two_snapshots):
    path, *_ = two_snapshots
    runner = CliRunner()
    res = runner.invoke(app, ["--workspace", str(path), "card", "A03", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["account_id"] == "A03" and data["snapshot_id"] == 2
    res = runner.invoke(app, ["--workspace", str(path), "card", "A03", "--snapshot", "1"])
    assert res.exit_code == 0 and "A03" in res.output and "History" in res.output
    res = runner.invoke(app, ["--workspace", str(path), "card", "NOPE"])
    assert res.exit_code == 5 and "no account 'NOPE'" in res.output
