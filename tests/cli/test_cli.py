"""The command line: help on every command, and token management against a data directory."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from alloop import campaign
from alloop.cli import app
from alloop.schemas import ProjectCreate
from alloop.settings import Settings
from alloop.store import Store
from alloop.store.tokens import find_token

runner = CliRunner()


@pytest.mark.parametrize("args", [[], ["serve"], ["token"], ["token", "create"], ["token", "list"], ["token", "revoke"]])
def test_every_command_has_help_with_an_example(args):
    result = runner.invoke(app, [*args, "--help"])
    assert result.exit_code == 0
    if args and args != ["token"]:
        assert "Example: alloop" in result.output


def test_token_create_list_revoke(tmp_path):
    store = Store(tmp_path)
    pid = campaign.create_project(store, Settings(data_dir=tmp_path), ProjectCreate(name="p", labels=["a", "b"])).id
    made = runner.invoke(app, ["token", "create", "--project", str(pid), "--name", "alice", "--data-dir", str(tmp_path)])
    assert made.exit_code == 0
    secret = made.output.strip()
    assert secret.startswith("alp_") and find_token(store.conn(), secret)["name"] == "alice"
    listed = runner.invoke(app, ["token", "list", "--project", str(pid), "--data-dir", str(tmp_path)])
    assert "annotator\talice\tlive" in listed.output
    runner.invoke(app, ["token", "revoke", "--project", str(pid), "--id", "1", "--data-dir", str(tmp_path)])
    assert find_token(store.conn(), secret) is None


def test_token_create_for_a_missing_project_fails_clearly(tmp_path):
    result = runner.invoke(app, ["token", "create", "--project", "9", "--name", "x", "--data-dir", str(tmp_path)])
    assert result.exit_code != 0 and "project 9 not found" in str(result.exception)
