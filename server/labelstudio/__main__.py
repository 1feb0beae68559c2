"""``python -m server.labelstudio``: connect a Label Studio project to alloop, or keep them in sync.

Examples::

    # A new Label Studio project for alloop project 1, with alloop as its ML backend:
    python -m server.labelstudio connect --alloop http://127.0.0.1:8000 --project 1 \\
        --label-studio http://127.0.0.1:8080 --ls-token "$LABEL_STUDIO_TOKEN"

    # Push mode: after each retrain push the ranking, pull annotations (every 5 s):
    python -m server.labelstudio sync --alloop http://127.0.0.1:8000 --project 1 \\
        --label-studio http://127.0.0.1:8080 --ls-token "$LABEL_STUDIO_TOKEN" --ls-project 3
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import typer

from server.client import Client
from server.labelstudio.lsapi import LabelStudio
from server.labelstudio.sync import Sync, connect

app = typer.Typer(help="Label Studio and alloop: connect them, or sync them.", no_args_is_help=True,
                  add_completion=False)

ALLOOP = typer.Option("http://127.0.0.1:8000", "--alloop", help="alloop's base URL.")
PROJECT = typer.Option(..., "--project", help="The alloop project id.")
TOKEN = typer.Option(None, "--token", envvar="ALLOOP_TOKEN", help="alloop admin or project admin token.")
LS_URL = typer.Option("http://127.0.0.1:8080", "--label-studio", help="Label Studio's base URL.")
LS_TOKEN = typer.Option(..., "--ls-token", envvar="LABEL_STUDIO_TOKEN", help="A Label Studio API token.")


def _read_items(path: Path) -> list[dict]:
    text = path.read_text()
    if path.suffix in (".jsonl", ".ndjson"):
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    data = json.loads(text)
    return data["items"] if isinstance(data, dict) else data


@app.command("connect")
def connect_command(
    alloop: str = ALLOOP, project: int = PROJECT, token: str | None = TOKEN, label_studio: str = LS_URL,
    ls_token: str = LS_TOKEN,
    ls_project: int | None = typer.Option(None, "--ls-project", help="An existing Label Studio project; "
                                          "omitted: create one with the alloop project's labels."),
    items: Path | None = typer.Option(None, "--items", help="A .json/.jsonl of pool items to add to both."),
    backend_url: str | None = typer.Option(None, "--backend-url", help="alloop's URL as Label Studio reaches "
                                           "it (default: --alloop)."),
) -> None:
    """Add alloop as the Label Studio project's ML backend (webhook and uncertainty sampling included)."""
    with Client(alloop, token=token) as client, LabelStudio(label_studio, ls_token) as ls:
        sync = Sync(client, project, ls, ls_project) if ls_project else Sync.create_project(client, project, ls)
        if items is not None:
            typer.echo(f"items: {sync.import_items(_read_items(items))}")
        url = f"{(backend_url or alloop).rstrip('/')}/projects/{project}/labelstudio"
        backend = connect(ls, sync.ls_project, url, token)
        typer.echo(f"Label Studio project {sync.ls_project}: ML backend {backend['id']} at {url}, "
                   f"state {backend.get('state')}, model version {backend.get('model_version')}")


@app.command("sync")
def sync_command(
    alloop: str = ALLOOP, project: int = PROJECT, token: str | None = TOKEN, label_studio: str = LS_URL,
    ls_token: str = LS_TOKEN, ls_project: int = typer.Option(..., "--ls-project", help="The Label Studio project."),
    interval: float = typer.Option(5.0, help="Seconds between steps."),
    once: bool = typer.Option(False, "--once", help="One step (pull, then push if retrained), then exit."),
) -> None:
    """Push alloop's ranking after each retrain and pull annotations back, until interrupted."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    with Client(alloop, token=token) as client, LabelStudio(label_studio, ls_token) as ls:
        sync = Sync(client, project, ls, ls_project)
        if once:
            typer.echo(json.dumps(sync.step()))
            return
        try:
            sync.run(interval)
        except KeyboardInterrupt:
            typer.echo("stopped")


if __name__ == "__main__":
    app()
