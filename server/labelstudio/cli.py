"""``alloop labelstudio`` (or ``python -m alloop.labelstudio``): connect a Label Studio project to
alloop, or reconcile them now.

Examples::

    # A new Label Studio project for alloop project 1, with alloop as its ML backend; from then on
    # alloop's server pushes every ranking there and stops it serving when the campaign stops:
    alloop labelstudio connect --alloop http://127.0.0.1:8000 --project 1 \\
        --label-studio http://127.0.0.1:8080 --ls-token "$LABEL_STUDIO_TOKEN"

    # The same without the ML backend (a webhook and alloop's pushes only):
    alloop labelstudio connect ... --push-only

    # Make alloop's labels equal Label Studio's annotations now, and push (every 30 s until ^C):
    alloop labelstudio sync --alloop http://127.0.0.1:8000 --project 1 --interval 30
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import httpx
import typer

from alloop.client import AlloopHTTPError, Client
from alloop.console import ALLOOP, TOKEN
from alloop.labelstudio.connect import (
    connect,
    create_ls_project,
    disconnect,
    import_items,
    link,
    wait_for_push,
)
from alloop.labelstudio.lsapi import LabelStudio

app = typer.Typer(help="Label Studio and alloop: connect them, or reconcile them now.", no_args_is_help=True,
                  add_completion=False)

PROJECT = typer.Option(..., "--project", help="The alloop project id.")
LS_URL = typer.Option("http://127.0.0.1:8080", "--label-studio", help="Label Studio's base URL.")
BACKEND_URL = typer.Option(None, "--backend-url", help="alloop's URL as Label Studio reaches it (default: --alloop).")
LS_TOKEN = typer.Option(..., "--ls-token", envvar="LABEL_STUDIO_TOKEN", help="A Label Studio API token.")


def _read_items(path: Path) -> list[dict]:
    text = path.read_text()
    if path.suffix in (".jsonl", ".ndjson"):
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    data = json.loads(text)
    return data["items"] if isinstance(data, dict) else data


def _quiet() -> None:
    """One line per event, not one per HTTP request."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@app.command("connect")
def connect_command(
    alloop: str = ALLOOP, project: int = PROJECT, token: str | None = TOKEN, label_studio: str = LS_URL,
    ls_token: str = LS_TOKEN,
    ls_project: int | None = typer.Option(None, "--ls-project", help="An existing Label Studio project; "
                                          "omitted: create one with the alloop project's labels."),
    items: Path | None = typer.Option(None, "--items", help="A .json/.jsonl of pool items to add to both."),
    backend_url: str | None = BACKEND_URL,
    ls_url_for_alloop: str | None = typer.Option(None, "--label-studio-for-alloop", help="Label Studio's URL as "
                                                 "alloop's server reaches it (default: --label-studio)."),
    push_only: bool = typer.Option(False, "--push-only", help="No ML backend: a webhook, and alloop pushes "
                                   "its rankings as predictions."),
) -> None:
    """Connect: Label Studio serves tasks in alloop's order and sends annotations back; alloop keeps it in step.

    Example: alloop labelstudio connect --project 1 --label-studio http://127.0.0.1:8080 --ls-token "$LABEL_STUDIO_TOKEN"
    """
    with Client(alloop, token=token) as client, LabelStudio(label_studio, ls_token) as ls:
        ls_pid = ls_project or create_ls_project(client, project, ls)
        if items is not None:
            typer.echo(f"items: {import_items(client, project, ls, ls_pid, _read_items(items))}")
        url = f"{(backend_url or alloop).rstrip('/')}/projects/{project}/labelstudio"
        backend = connect(ls, ls_pid, url, token, push_only=push_only)
        link(client, project, ls_url_for_alloop or label_studio, ls_token, ls_pid, "push" if push_only else "backend")
        state = wait_for_push(client, project)
        how = "webhook only (push mode)" if backend is None else f"ML backend {backend['id']} (state {backend.get('state')})"
        typer.echo(f"Label Studio project {ls_pid}: {how} at {url}; alloop pushed {state['pushed_version']}"
                   + (f"; last error: {state['last_error']}" if state["last_error"] else ""))


@app.command("disconnect")
def disconnect_command(
    alloop: str = ALLOOP, project: int = PROJECT, token: str | None = TOKEN, label_studio: str = LS_URL,
    ls_token: str = LS_TOKEN,
    backend_url: str | None = BACKEND_URL,
) -> None:
    """Undo connect: alloop stops keeping Label Studio in step; alloop's ML backend and webhook are removed.

    Example: alloop labelstudio disconnect --project 1 --ls-token "$LABEL_STUDIO_TOKEN"
    """
    with Client(alloop, token=token) as client, LabelStudio(label_studio, ls_token) as ls:
        state = client.request("GET", f"/projects/{project}/labelstudio/link").json()
        url = f"{(backend_url or alloop).rstrip('/')}/projects/{project}/labelstudio"
        removed = disconnect(ls, state["ls_project"], url)
        client.request("DELETE", f"/projects/{project}/labelstudio/link")  # unmarks what a pause marked
        typer.echo(f"Label Studio project {state['ls_project']}: removed {removed['ml_backends']} ML backend(s) "
                   f"and {removed['webhooks']} webhook(s); alloop no longer keeps it in step")


@app.command("sync")
def sync_command(
    alloop: str = ALLOOP, project: int = PROJECT, token: str | None = TOKEN,
    interval: float = typer.Option(30.0, help="Seconds between passes."),
    once: bool = typer.Option(False, "--once", help="One pass, then exit."),
) -> None:
    """Reconcile alloop's labels with the linked Label Studio project's annotations and push the ranking now.

    alloop's server does this by itself (on start-up and every few minutes); this asks for it now.

    Example: alloop labelstudio sync --project 1 --once
    """
    _quiet()
    log = logging.getLogger("alloop.labelstudio")
    with Client(alloop, token=token, retries=0) as client:
        while True:
            try:
                answer = client.request("POST", f"/projects/{project}/labelstudio/sync").json()
                if once:
                    typer.echo(json.dumps(answer))
                    return
                log.info("sync: %s", json.dumps(answer))
            except (AlloopHTTPError, httpx.HTTPError) as exc:  # one line, no traceback; try again next pass
                if once:
                    typer.echo(f"sync failed: {exc}", err=True)
                    raise typer.Exit(1) from None
                log.warning("sync: %s", exc)
            except KeyboardInterrupt:
                typer.echo("stopped")
                return
            try:
                time.sleep(interval)
            except KeyboardInterrupt:
                typer.echo("stopped")
                return
