"""``alloop status`` and ``alloop export``: a running server's campaigns, from a terminal.

Both talk to the server over HTTP (``--alloop``, ``--token`` or ``ALLOOP_TOKEN``), so they work
against a remote server and under its auth, and never touch its store while it runs.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from alloop.client import AlloopHTTPError, Client, raise_for_status

__all__ = ["ALLOOP", "TOKEN", "export", "status"]

ALLOOP = typer.Option("http://127.0.0.1:8000", "--alloop", envvar="ALLOOP_URL", help="alloop's base URL.")
TOKEN = typer.Option(None, "--token", envvar="ALLOOP_TOKEN", help="Admin or project token (when the server needs one).")
FORMATS = ("jsonl", "csv", "json", "zip")


def _fail(message: str) -> typer.Exit:
    Console(stderr=True).print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(1)


@contextmanager
def _writing(what: str, alloop: str, path: Path | None) -> Iterator[None]:
    """Fetch from alloop and write ``path``: an HTTP error, an unreachable server or a failed write
    ends the command with one clear line."""
    try:
        yield
    except AlloopHTTPError as exc:
        raise _fail(f"{what}: {exc.detail} (HTTP {exc.status})") from None
    except httpx.HTTPError as exc:
        raise _fail(f"cannot reach alloop at {alloop} ({exc})") from None
    except OSError as exc:
        raise _fail(f"cannot write {path}: {exc.strerror or exc}") from None


def _call(alloop: str, token: str | None, path: str) -> Any:
    try:
        with Client(alloop, token=token, retries=1) as client:
            return client.request("GET", path).json()
    except AlloopHTTPError as exc:
        raise _fail(f"{alloop}{path}: {exc.detail} (HTTP {exc.status})") from None
    except httpx.HTTPError as exc:
        raise _fail(f"cannot reach alloop at {alloop} ({exc})") from None


def _progress(status: dict[str, Any]) -> str:
    budget = status.get("budget")
    return f"{status['labeled']}/{budget}" if budget is not None else f"{status['labeled']}/{status['pool_size']}"


def _metric(status: dict[str, Any]) -> str:
    metrics = status.get("metrics") or {}
    target = status.get("target") or {}
    name = target.get("metric", "entity_f1" if status.get("task") == "spans" else "accuracy")
    if name not in metrics:
        return "-"
    shown = f"{name} {metrics[name]:.3f}"
    return shown + (f" (target {target['value']:g})" if "value" in target else "")


def _state(status: dict[str, Any]) -> str:
    state = status["state"]
    if status.get("stop_reason"):
        return f"[green]{state}[/green] ({status['stop_reason']})"
    activity = status.get("activity")
    return f"[blue]{state}[/blue]" + (f" · {activity}" if activity else "")


def _overview(projects: list[dict[str, Any]]) -> Table:
    table = Table(title="alloop campaigns", title_justify="left")
    for column, justify in (("id", "right"), ("name", "left"), ("state", "left"), ("labeled", "right"),
                            ("leased", "right"), ("model", "right"), ("eval", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for p in projects:
        table.add_row(str(p["id"]), p["name"], _state(p), _progress(p), str(p["leased"]),
                      f"v{p['model_version']}" if p.get("model_version") else "-", _metric(p))
    return table


def _details(status: dict[str, Any]) -> Table:
    table = Table(title=f"project {status['id']}: {status['name']}", title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    ranking = status.get("ranking") or {}
    rows = [
        ("state", _state(status)),
        ("labeled", f"{_progress(status)} (budget left: {status.get('budget_left', '-')})"),
        ("unlabeled / leased", f"{status['unlabeled']} / {status['leased']}"),
        ("model", f"{status['model']['name']} v{status['model_version']}" if status.get("model_version")
         else f"{status['model']['name']} (not trained yet)"),
        ("strategy", status["strategy"]["name"]),
        ("eval", _metric(status)),
        ("ranking", f"{ranking.get('strategy')} on {ranking.get('labels')} labels "
                    f"({ranking.get('stale_labels')} since)" if ranking else "-"),
    ]
    embedding = status.get("embedding")
    if embedding:
        rows.append(("embedding", f"{embedding['done']}/{embedding['total']}"
                     + (f", about {embedding['eta_seconds']:.0f} s left" if embedding.get("eta_seconds") else "")))
    if status.get("last_error"):
        rows.append(("last error", f"[red]{status['last_error']}[/red]"))
    for key, value in rows:
        table.add_row(key, value)
    return table


def status(
    project: int | None = typer.Option(None, "--project", help="One project's details; omitted: every project."),
    alloop: str = ALLOOP, token: str | None = TOKEN,
    as_json: bool = typer.Option(False, "--json", help="The server's answer as JSON, for scripts."),
) -> None:
    """Where the campaigns stand: state, labels against the budget, model version and eval metric.

    Example: alloop status --alloop http://127.0.0.1:8000 --project 1
    """
    answer = _call(alloop, token, f"/projects/{project}" if project is not None else "/projects")
    if as_json:
        typer.echo(json.dumps(answer, indent=2))
        return
    console = Console()
    if project is not None:
        console.print(_details(answer))
    elif answer["projects"]:
        console.print(_overview(answer["projects"]))
    else:
        console.print(f"no projects yet on {alloop}")


def export(
    project: int = typer.Option(..., "--project", help="Project id."),
    format: str = typer.Option("jsonl", "--format", help="jsonl, csv, json (one array) or zip (labels and card)."),
    out: Path | None = typer.Option(None, "--out", help="File to write; omitted or '-': standard output."),
    alloop: str = ALLOOP, token: str | None = TOKEN,
) -> None:
    """Every label with its provenance (annotator, time, model version, score, votes), streamed to a file.

    Written to a file, the labels come with their dataset card beside them (``labels.csv`` ->
    ``labels.card.md``); ``--format zip`` puts labels and card in one archive.

    Example: alloop export --project 1 --format csv --out labels.csv
    """
    if format not in FORMATS:
        raise typer.BadParameter(f"{format!r}; use one of {', '.join(FORMATS)}", param_hint="--format")
    to_file = out is not None and str(out) != "-"
    total = "?"
    with _writing(f"export of project {project}", alloop, out):
        with Client(alloop, token=token, retries=1) as client, \
                client.http.stream("GET", f"/projects/{project}/export", params={"format": format}) as response:
            raise_for_status(response)
            total = response.headers.get("X-Total-Count", "?")
            target = out.open("wb") if to_file else sys.stdout.buffer  # type: ignore[union-attr]
            try:
                for chunk in response.iter_bytes():
                    target.write(chunk)
            finally:
                if to_file:
                    target.close()
                else:
                    target.flush()
    if to_file:
        card = "" if format == "zip" else f", its dataset card to {_write_card(alloop, token, project, out)}"
        Console(stderr=True).print(f"project {project}: {total} labels written to {out} ({format}){card}",
                                   highlight=False)


def _write_card(alloop: str, token: str | None, project: int, out: Path) -> Path:
    """Fetch the project's dataset card and write it beside the export (``labels.csv`` -> ``labels.card.md``)."""
    path = out.with_name(out.stem + ".card.md")
    with _writing(f"dataset card of project {project}", alloop, path):
        with Client(alloop, token=token, retries=1) as client:
            response = client.http.get(f"/projects/{project}/card", params={"format": "md"})
            raise_for_status(response)
        path.write_text(response.text, encoding="utf-8")
    return path
