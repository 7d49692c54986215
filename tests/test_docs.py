"""The generated docs match the code, and every setting and command is documented."""

from __future__ import annotations

import typer
from pydantic import BaseModel

from growthmap.cli import app
from growthmap.config import Config
from growthmap.docgen import GENERATED, _commands
from tests.conftest import REPO


def test_generated_docs_are_current():
    stale = []
    for rel, render in GENERATED.items():
        path = REPO / rel
        if not path.exists() or path.read_text(encoding="utf-8") != render() + "\n":
            stale.append(rel)
    assert not stale, f"regenerate with `make docs`: {stale}"


def test_every_config_field_is_documented():
    missing = []
    queue: list[tuple[str, type[BaseModel]]] = [("", Config)]
    while queue:
        prefix, model = queue.pop()
        for name, f in model.model_fields.items():
            if not f.description:
                missing.append(f"{prefix}{name}")
            if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel):
                queue.append((f"{prefix}{name}.", f.annotation))
    assert not missing, f"config fields without a description: {missing}"


def test_every_command_has_an_example():
    root = typer.main.get_command(app)
    missing = [" ".join(path) for path, cmd in _commands(root, [])
               if not hasattr(cmd, "list_commands") and "Example" not in (cmd.help or "")]
    assert not missing, f"commands without an Example in their help: {missing}"
