"""The ``alloop`` command line."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="alloop: an active-learning loop server.", no_args_is_help=True, add_completion=False)


@app.callback()
def main() -> None:
    """alloop: an active-learning loop server."""


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="TCP port."),
    data_dir: Path = typer.Option(Path("./alloop-data"), help="Where the SQLite store and feature files live."),
    demo: bool = typer.Option(False, "--demo", help="Create the digits demo campaign if it is missing."),
    log_level: str = typer.Option("info", help="uvicorn log level."),
) -> None:
    """Start the server on an embedded SQLite store.

    Example: alloop serve --host 127.0.0.1 --port 8000 --data-dir ./alloop-data --demo
    """
    import uvicorn

    from server.app import create_app
    from server.settings import Settings

    settings = Settings(data_dir=data_dir)
    application = create_app(settings)
    if demo:
        from server.demo import ensure_demo

        project_id = ensure_demo(application.state.store, settings)
        base = f"http://{host}:{port}"
        auth = ' -H "Authorization: Bearer $ALLOOP_ADMIN_TOKEN"' if settings.admin_token else ""
        typer.echo(f"alloop demo campaign: project {project_id} (digits, margin, budget 300) at {base}")
        typer.echo(f"  status:  curl{auth} {base}/projects/{project_id}")
        typer.echo(
            f"  next:    curl{auth} -X POST {base}/projects/{project_id}/next "
            "-H 'Content-Type: application/json' -d '{\"annotator\": \"me\", \"n\": 5}'"
        )
        typer.echo(f"  API docs: {base}/docs")
    uvicorn.run(application, host=host, port=port, log_level=log_level)


if __name__ == "__main__":
    app()
