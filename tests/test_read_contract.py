"""The read layer names output columns; the output contract is where they are declared.

A view that joins a column no stage declares would show "not computed" for ever; one whose
stage is renamed would send the user to run a stage that does not exist.
"""

from __future__ import annotations

from growthmap.contract.inputs import table
from growthmap.contract.outputs import OUTPUTS
from growthmap.read.access import AV_COLUMNS, JOINED, PRODUCED_BY
from growthmap.read.views import MIGRATION_DIMENSIONS


def _declared(name: str) -> set[str]:
    return {c.name for c in OUTPUTS[name].columns}


def test_every_joined_column_is_declared_by_its_output() -> None:
    for name, (_, columns) in JOINED.items():
        assert set(columns) <= _declared(name), name


def test_account_columns_are_declared_outputs_or_account_attributes() -> None:
    accounts = {c.name for c in table("accounts").columns}
    assert OUTPUTS["account_value"].extra == "*"  # the account's own attributes pass through
    assert set(AV_COLUMNS) <= _declared("account_value") | accounts


def test_migration_dimensions_and_missing_stage_hints_follow_the_contract() -> None:
    for dim, (name, col) in MIGRATION_DIMENSIONS.items():
        assert col in _declared(name), dim
    for name, (_, _) in JOINED.items():
        assert PRODUCED_BY[name] == OUTPUTS[name].stage
    assert PRODUCED_BY["rollup"] == "plan" and PRODUCED_BY["potential"] == "potential"
