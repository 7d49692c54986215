"""A broken stage fails the run with its name, and the faces' tests with it.

Each built-in stage is broken in turn (it raises, or publishes an output that breaks
its contract) and the world the faces' tests share (:func:`tests.test_web_api.
build_world`, a real run of every stage) is built: it must fail, naming the stage, and
leave no snapshot behind.  So no web, report, Excel, chart, feedback or browser test can
pass on a run whose stage is broken.
"""

from __future__ import annotations

import dataclasses

import pytest

from growthmap.contract.outputs import output
from growthmap.errors import StageError, WorkspaceError
from growthmap.runner import pipeline
from growthmap.runner.duckdb_run import run
from growthmap.workspace import Workspace
from tests.test_web_api import build_world, light_config

BUILT_IN = ["value", "potential", "models", "markets", "segments", "plan"]


def test_the_built_in_stages_in_their_order() -> None:
    assert [s.name for s in pipeline.stages()] == BUILT_IN


def _break(monkeypatch: pytest.MonkeyPatch, name: str, func) -> None:
    st = pipeline._REGISTRY[name]
    monkeypatch.setitem(pipeline._REGISTRY, name, dataclasses.replace(st, func=func))


@pytest.mark.parametrize("name", BUILT_IN)
def test_a_crashing_stage_fails_the_faces_world(name, monkeypatch, tmp_path) -> None:
    def crash(ctx: pipeline.RunContext) -> None:
        raise ZeroDivisionError("broken on purpose")

    _break(monkeypatch, name, crash)
    with pytest.raises(StageError, match=f"the {name} stage failed: ZeroDivisionError"):
        build_world(tmp_path / "w.duckdb", n_accounts=150)
    ws = Workspace.open(tmp_path / "w.duckdb")
    try:
        # the earlier, cheap snapshot runs value and segments only
        assert len(ws.snapshot_ids()) == (1 if name not in ("value", "segments") else 0)
    finally:
        ws.close()


@pytest.mark.parametrize("name", BUILT_IN)
def test_an_output_that_breaks_its_contract_fails_the_run(name, monkeypatch, tmp_path) -> None:
    """The stage runs for real, but its first output loses a column the contract requires."""
    st = pipeline._REGISTRY[name]
    first = st.provides[0]
    lost = [c.name for c in output(first).columns if c.required][-1]

    def lossy(ctx: pipeline.RunContext) -> None:
        put = ctx.put

        def put_without_a_column(out: str, data):
            table = ctx.to_arrow(data)
            if out == first:
                table = table.drop_columns([lost])
            return put(out, table)

        ctx.put = put_without_a_column  # type: ignore[method-assign]
        try:
            st.func(ctx)
        finally:
            del ctx.put

    _break(monkeypatch, name, lossy)
    with pytest.raises(StageError, match=f"the {name} stage output {first!r} breaks its "
                                         f"contract: column {lost!r} is missing"):
        build_world(tmp_path / "w.duckdb", n_accounts=150)


def test_a_missing_need_names_the_stage(tmp_path) -> None:
    from growthmap.demo import build_demo_workspace

    ws = build_demo_workspace(tmp_path / "w.duckdb", 60, 1)
    try:
        with pytest.raises(WorkspaceError, match="the segments stage needs output "
                                                 "'account_value', which the value stage "
                                                 "did not produce"):
            run(ws, light_config(), only=["segments"])
        assert ws.snapshot_ids() == []
    finally:
        ws.close()
