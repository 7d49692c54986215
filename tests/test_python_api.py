"""The public API: ``import growthmap as gm`` and the notebook session of the docs.

The code blocks of ``docs/python-api.md`` are run as they stand, one after the other
in one namespace, in a temporary folder: the page cannot drift from the library.
"""

from __future__ import annotations

import re

import pytest

import growthmap as gm
from growthmap.contract import outputs as contract
from growthmap.runner import pipeline
from tests.conftest import REPO

PAGE = REPO / "docs" / "python-api.md"


def test_every_public_name_exists_and_is_documented() -> None:
    text = PAGE.read_text()
    for name in gm.__all__:
        assert hasattr(gm, name), name
        if not name.startswith("__"):
            assert f"gm.{name}" in text, f"gm.{name} is not in docs/python-api.md"
    assert callable(gm.load) and callable(gm.run)
    assert gm.Workspace.__module__ == "growthmap.workspace"


def test_the_notebook_session_runs(tmp_path, monkeypatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)
    assert len(blocks) == 2
    monkeypatch.chdir(tmp_path)
    pipeline.stages()  # every built-in registered before the registry is saved
    registry, declared = dict(pipeline._REGISTRY), dict(contract.OUTPUTS)
    ns: dict = {}
    try:
        exec(compile(blocks[0], "python-api.md#session", "exec"), ns)
        assert ns["result"].snapshot_id == 1
        assert ns["h"].figures["accounts"] == 300
        assert ns["card"].account_id == ns["top"]["account_id"]
        exec(compile(blocks[1], "python-api.md#stage", "exec"), ns)
        names = [s.name for s in pipeline.stages()]
        assert names[-1] == "calls" and names.index("calls") > names.index("segments")
        seg = ns["result"].outputs["segments"].to_pandas()
        assert ns["result"].outputs["call_list"].num_rows == seg["tier"].str.startswith(
            "1").sum() > 0
    finally:
        pipeline._REGISTRY.clear()
        pipeline._REGISTRY.update(registry)
        contract.OUTPUTS.clear()
        contract.OUTPUTS.update(declared)
        if "ws" in ns:
            ns["ws"].close()


def test_a_stage_publishing_an_undeclared_output_fails_with_its_name(tmp_path) -> None:
    from growthmap.errors import StageError

    ctx = pipeline.RunContext(config=gm.Config(), as_of=None, source=None)  # type: ignore[arg-type]
    st = pipeline.Stage("rogue", lambda c: c.put("account_value", {}), "", provides=())
    with pytest.raises(StageError, match="the rogue stage published 'account_value'"):
        st.run(ctx)
