"""`alloop status` and `alloop export` against a real server, and `alloop labelstudio` as a subcommand."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alloop.cli import app
from alloop.client import Client
from alloop.process import ServerProcess, free_port

pytestmark = pytest.mark.slow
runner = CliRunner()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, digits) -> Iterator[tuple[str, int]]:
    X, y = digits
    server = ServerProcess(tmp_path_factory.mktemp("console") / "data").start()
    try:
        with Client(server.url) as client:
            pid = client.create_project(dedup="off", name="console digits", labels=[str(d) for d in range(10)], budget=50,
                                        retrain_every=10)["id"]
            client.add_items(pid, [{"id": f"d{i}", "features": X[i].tolist()} for i in range(100)])
            batch = client.poll_next(pid, "ann", n=6, timeout=60)["items"]
            client.label(pid, [{"item_id": it["id"], "label": str(y[int(it["id"][1:])]), "annotator": "ann"}
                               for it in batch])
        yield server.url, pid
    finally:
        server.stop()


def test_status_lists_every_project_and_one_in_detail(served):
    url, pid = served
    overview = runner.invoke(app, ["status", "--alloop", url])
    assert overview.exit_code == 0, overview.output
    assert "console digits" in overview.output and "6/50" in overview.output
    detail = runner.invoke(app, ["status", "--alloop", url, "--project", str(pid)])
    assert detail.exit_code == 0 and "margin" in detail.output and "budget left: 44" in detail.output
    raw = runner.invoke(app, ["status", "--alloop", url, "--project", str(pid), "--json"])
    assert json.loads(raw.stdout)["labeled"] == 6


def test_export_streams_every_format_to_a_file_or_stdout(served, tmp_path: Path):
    url, pid = served
    for fmt in ("jsonl", "csv", "json"):
        out = tmp_path / f"labels.{fmt}"
        result = runner.invoke(app, ["export", "--alloop", url, "--project", str(pid), "--format", fmt, "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert f"6 labels written to {out}" in result.stderr.replace("\n", "")
        text = out.read_text()
        rows = (list(csv.DictReader(io.StringIO(text))) if fmt == "csv" else json.loads(text) if fmt == "json"
                else [json.loads(line) for line in text.splitlines()])
        assert len(rows) == 6 and {row["annotator"] for row in rows} == {"ann"}
        card = tmp_path / "labels.card.md"  # the dataset card comes beside every export to a file
        assert f"its dataset card to {card}" in result.stderr.replace("\n", "")
        assert card.read_text().startswith("# Dataset card: ") and "| ann | 6 |" in card.read_text()
    bundle = tmp_path / "labels.zip"
    result = runner.invoke(app, ["export", "--alloop", url, "--project", str(pid), "--format", "zip", "--out", str(bundle)])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(bundle) as archive:
        assert sorted(archive.namelist()) == ["card.json", "card.md", "labels.jsonl"]
        assert len(archive.read("labels.jsonl").decode().splitlines()) == 6
    piped = runner.invoke(app, ["export", "--alloop", url, "--project", str(pid)])
    assert len(piped.stdout.splitlines()) == 6


def test_clear_errors_for_a_missing_project_a_bad_format_and_no_server(served):
    url, _ = served
    missing = runner.invoke(app, ["status", "--alloop", url, "--project", "99"])
    assert missing.exit_code == 1 and "project 99 not found" in missing.stderr
    gone = runner.invoke(app, ["export", "--alloop", url, "--project", "99"])
    assert gone.exit_code == 1 and "not found" in gone.stderr
    nowhere = runner.invoke(app, ["export", "--alloop", url, "--project", "1", "--out", "/nonexistent/dir/x.csv"])
    assert nowhere.exit_code == 1 and "cannot write /nonexistent/dir/x.csv" in nowhere.stderr
    bad = runner.invoke(app, ["export", "--alloop", url, "--project", "1", "--format", "xml"])
    assert bad.exit_code == 2 and "jsonl, csv, json" in bad.output
    nobody = f"http://127.0.0.1:{free_port()}"
    down = runner.invoke(app, ["status", "--alloop", nobody])
    assert down.exit_code == 1 and f"cannot reach alloop at {nobody}" in down.stderr


@pytest.mark.parametrize("args", [["status"], ["export"], ["labelstudio"], ["labelstudio", "connect"],
                                  ["labelstudio", "sync"], ["labelstudio", "disconnect"]])
def test_the_new_commands_have_help(args):
    result = runner.invoke(app, [*args, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output
    if args != ["labelstudio"]:
        assert "Example: alloop" in result.output
