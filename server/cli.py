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


token_app = typer.Typer(help="Per-project access tokens (stored as hashes; the secret is shown once).",
                        no_args_is_help=True)
app.add_typer(token_app, name="token")

DATA_DIR = typer.Option(Path("./alloop-data"), help="The server's data directory.")


@token_app.command("create")
def token_create(
    project: int = typer.Option(..., help="Project id."),
    name: str = typer.Option(..., help="Who holds it; annotator tokens record this name with every label."),
    role: str = typer.Option("annotator", help="'annotator' (next and labels) or 'admin' (the whole project)."),
    data_dir: Path = DATA_DIR,
) -> None:
    """Create a token and print its secret.

    Example: alloop token create --project 1 --name alice --role annotator --data-dir ./alloop-data
    """
    from server.store import Store
    from server.store.projects import get_project
    from server.store.tokens import ROLES, create_token

    if role not in ROLES:
        raise typer.BadParameter(f"role must be one of {ROLES}")
    store = Store(data_dir)
    with store.write() as conn:
        get_project(conn, project)
        made = create_token(conn, project, role, name)
    typer.echo(made["token"])


@token_app.command("list")
def token_list(project: int = typer.Option(..., help="Project id."), data_dir: Path = DATA_DIR) -> None:
    """List a project's tokens (never their secrets).

    Example: alloop token list --project 1
    """
    from server.store import Store
    from server.store.tokens import list_tokens

    with Store(data_dir).read() as conn:
        for token in list_tokens(conn, project):
            state = "revoked" if token["revoked_at"] else "live"
            typer.echo(f"{token['id']}\t{token['role']}\t{token['name']}\t{state}")


@token_app.command("revoke")
def token_revoke(
    project: int = typer.Option(..., help="Project id."),
    token_id: int = typer.Option(..., "--id", help="Token id (from `alloop token list`)."),
    data_dir: Path = DATA_DIR,
) -> None:
    """Revoke a token at once.

    Example: alloop token revoke --project 1 --id 3
    """
    from server.store import Store
    from server.store.tokens import revoke_token

    with Store(data_dir).write() as conn:
        revoke_token(conn, project, token_id)
    typer.echo(f"revoked token {token_id}")


if __name__ == "__main__":
    app()
