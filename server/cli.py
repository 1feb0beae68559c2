"""The ``alloop`` command line."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import typer

from alloop import console
from alloop.labelstudio.cli import app as labelstudio_app

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
    image_root: Path | None = typer.Option(
        None, help="Folder that image projects' image_path values are relative to (or ALLOOP_IMAGE_ROOT).",
    ),
    log_level: str = typer.Option("info", help="uvicorn log level."),
    ray: str | None = typer.Option(
        None, "--ray", help="Score pools and embed texts on a Ray cluster: 'auto' (one started on this machine "
        "with `ray start --head`) or the head's HOST:PORT; default: ALLOOP_RAY_ADDRESS, else in the server's worker.",
    ),
    store: str | None = typer.Option(
        None, "--store", help="A PostgreSQL database (postgresql://user@host:port/db) for the store, which several "
        "servers may share (give each the same --data-dir on a shared folder); default: ALLOOP_STORE, else the "
        "SQLite file in --data-dir.",
    ),
) -> None:
    """Start the server on an embedded SQLite store (or a shared PostgreSQL one).

    Example: alloop serve --host 127.0.0.1 --port 8000 --data-dir ./alloop-data --demo
    """
    import uvicorn

    from alloop.app import create_app
    from alloop.distributed import ClusterUnavailable
    from alloop.errors import StoreUnavailable
    from alloop.settings import Settings

    overrides = {"image_root": image_root} if image_root is not None else {}
    overrides.update({"ray_address": ray} if ray else {})
    overrides.update({"store": store} if store else {})
    settings = Settings(data_dir=data_dir, **overrides)
    if settings.image_root is not None and not settings.image_root.is_dir():
        raise typer.BadParameter(f"{settings.image_root} is not a folder", param_hint="--image-root")
    try:
        application = create_app(settings)
    except (ClusterUnavailable, StoreUnavailable, ValueError, ImportError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if demo:
        from alloop.demo import ensure_demo

        project_id = ensure_demo(application.state.store, settings)
        base = f"http://{host}:{port}"
        auth = ' -H "Authorization: Bearer $ALLOOP_ADMIN_TOKEN"' if settings.admin_token else ""
        typer.echo(f"alloop demo campaign: project {project_id} (digits, margin, budget 300) at {base}")
        typer.echo(f"  label it:   {base}/ui/projects/{project_id}/label   (keys 0-9; Enter takes the model's suggestion)")
        typer.echo(f"  dashboard:  {base}/ui/projects/{project_id}/dashboard")
        typer.echo(f"  projects:   {base}/ui/")
        typer.echo(
            f"  from a script: curl{auth} -X POST {base}/projects/{project_id}/next "
            "-H 'Content-Type: application/json' -d '{\"annotator\": \"me\", \"n\": 5}'"
        )
        typer.echo(f"  API docs:   {base}/docs    status: alloop status --alloop {base}")
    uvicorn.run(application, host=host, port=port, log_level=log_level)


app.command()(console.status)
app.command()(console.export)
app.add_typer(labelstudio_app, name="labelstudio", help="Label Studio and alloop: connect them, disconnect them, "
              "or reconcile them now.")

token_app = typer.Typer(help="Per-project access tokens (stored as hashes; the secret is shown once).",
                        no_args_is_help=True)
app.add_typer(token_app, name="token")

DATA_DIR = typer.Option(Path("./alloop-data"), help="The server's data directory.")
STORE = typer.Option(None, "--store", help="The server's PostgreSQL store, if it has one (default: ALLOOP_STORE, "
                     "else the SQLite file in --data-dir).")


@token_app.command("create")
def token_create(
    project: int = typer.Option(..., help="Project id."),
    name: str = typer.Option(..., help="Who holds it; annotator tokens record this name with every label."),
    role: str = typer.Option("annotator", help="'annotator' (next and labels) or 'admin' (the whole project)."),
    data_dir: Path = DATA_DIR,
    store_url: str | None = STORE,
) -> None:
    """Create a token and print its secret.

    Example: alloop token create --project 1 --name alice --role annotator --data-dir ./alloop-data
    """
    from alloop.store import Store
    from alloop.store.projects import get_project
    from alloop.store.tokens import ROLES, create_token

    if role not in ROLES:
        raise typer.BadParameter(f"role must be one of {ROLES}")
    with closing(Store(data_dir, url=store_url)) as store, store.write() as conn:
        get_project(conn, project)
        made = create_token(conn, project, role, name)
    typer.echo(made["token"])


@token_app.command("list")
def token_list(project: int = typer.Option(..., help="Project id."), data_dir: Path = DATA_DIR,
               store_url: str | None = STORE) -> None:
    """List a project's tokens (never their secrets).

    Example: alloop token list --project 1
    """
    from alloop.store import Store
    from alloop.store.tokens import list_tokens

    with closing(Store(data_dir, url=store_url)) as store, store.read() as conn:
        tokens = list_tokens(conn, project)
    for token in tokens:
        state = "revoked" if token["revoked_at"] else "live"
        typer.echo(f"{token['id']}\t{token['role']}\t{token['name']}\t{state}")


@token_app.command("revoke")
def token_revoke(
    project: int = typer.Option(..., help="Project id."),
    token_id: int = typer.Option(..., "--id", help="Token id (from `alloop token list`)."),
    data_dir: Path = DATA_DIR,
    store_url: str | None = STORE,
) -> None:
    """Revoke a token at once.

    Example: alloop token revoke --project 1 --id 3
    """
    from alloop.store import Store
    from alloop.store.tokens import revoke_token

    with closing(Store(data_dir, url=store_url)) as store, store.write() as conn:
        revoke_token(conn, project, token_id)
    typer.echo(f"revoked token {token_id}")


def _review_share(share: float | None) -> float | None:
    """A review share checked as a project's (0 < share <= 0.5), with cleanlab installed."""
    if share is None:
        return None
    from pydantic import ValidationError

    from alloop.quality.label_errors import cleanlab_missing
    from alloop.schemas import ReviewSpec

    try:
        ReviewSpec(share=share)
    except ValidationError as exc:
        raise ValueError(f"--review-share {share}: {exc.errors()[0]['msg']}") from None
    missing = cleanlab_missing()
    if missing:
        raise ValueError(f"--review-share: {missing}")
    return share


def _simulate_multilabel(sources: list[str], strategies: str, seeds: str, budget: str | None, batch_sizes: str,
                         initial: int | None, model: str | None, model_params: str | None, workers: int,
                         out: Path) -> None:
    """``alloop simulate`` on multi-label sets (:func:`alloop.simulate.multilabel.run_command`)."""
    from alloop.simulate import command
    from alloop.simulate.multilabel import run_command

    try:
        options = {"seeds": command.parse_seeds(seeds), "budget": command.parse_budget(budget),
                   "batch_sizes": command.parse_ints(batch_sizes) if batch_sizes else None,
                   "model": command.parse_model(model, model_params, calibration="none", one_class_rescue=True)}
        run_command(sources, strategies=strategies, initial=initial, workers=workers, out=out, **options)
    except (KeyError, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from None
    except (RuntimeError, OSError, ImportError) as exc:
        typer.echo(f"simulation failed: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"results in {out}")


@app.command()
def simulate(
    sources: list[str] = typer.Argument(..., help="Catalog datasets (digits, mnist, sms_spam, ...) or CSV/JSONL/parquet/"
                                        "svmlight files."),
    strategies: str | None = typer.Option(None, help="Comma-separated strategies (random is the baseline); parameters in brackets: "
                                  "'margin,prefilter[diversify=typiclust,m=200]'. Default: random,margin "
                                  "(--task spans: random,mnlp)."),
    seeds: str = typer.Option("3", help="A count (3: seeds 0,1,2) or a list (0,5,9)."),
    batch_sizes: str = typer.Option("", help="Comma-separated batch sizes; default: the dataset's protocol."),
    budget: str | None = typer.Option(None, help="Labels per campaign, or 'all' (the whole pool); default: the dataset's protocol."),
    initial: int | None = typer.Option(None, min=1, help="Random labels before the first model (the cold start)."),
    initial_per_class: int | None = typer.Option(None, min=1, help="First labels: this many random items of every class "
                                                 "(instead of --initial), so the first model sees every class."),
    eval_size: str | None = typer.Option(None, help="Eval split: a share (0.4) or a count (400), stratified per seed."),
    pool_size: int | None = typer.Option(None, min=1, help="Cap on the pool (a random subset per seed)."),
    scale: str | None = typer.Option(None, help="Feature standardization: 'train' (fit on each seed's pool only), 'all' "
                                     "(pool and eval together) or 'none'; default: the dataset's protocol."),
    random_factor: float | None = typer.Option(None, min=1.0, help="Random runs to this multiple of the budget."),
    model: str | None = typer.Option(None, help="Model name (alloop's registry), with parameters in brackets: "
                                     "'svm[gamma=auto,C=1]'; default: the dataset's protocol (logistic regression; "
                                     "extra trees on letter)."),
    model_params: str | None = typer.Option(None, help="Model parameters as JSON, e.g. '{\"gamma\": \"auto\"}'."),
    calibration: str = typer.Option("none", help="'none': an SVM ranks by its decision function (margin = distance to "
                                    "the boundary) and scores by predict; 'sigmoid' or 'isotonic': calibrated probabilities "
                                    "from 3 shuffled, seeded folds."),
    one_class_rescue: bool = typer.Option(True, help="Refit a model that predicts one class over the whole pool with "
                                          "balanced weights, else rank by the cold-start rule (the server's behaviour); "
                                          "--no-one-class-rescue keeps the model as fitted (papers' plain protocol)."),
    cold_start: str = typer.Option("random", help="'random' (the benchmark protocol) or 'kmeans++'."),
    peers: str = typer.Option("", help="'all', or e.g. 'modAL:margin_sampling,small-text:BreakingTies'."),
    label_column: str = typer.Option("label", help="User files: the label column."),
    text_column: str = typer.Option("text", help="User files: the text column (makes it a text set)."),
    encoder: str = typer.Option("auto", help="Text sets: 'auto' (MiniLM where installed), 'minilm' or 'hashing'."),
    cache_dir: Path | None = typer.Option(None, help="Embedding cache (default ~/.cache/alloop)."),
    target_share: float = typer.Option(0.95, min=0.01, max=1.0, help="Target: this share of full-data accuracy."),
    round_files: bool = typer.Option(False, help="Write each round's model and pool predictions as a served campaign "
                                     "does (slower; nothing in a simulation reads them)."),
    noise: float = typer.Option(0.0, min=0.0, max=0.5, help="Share of pool items the oracle labels wrong (a "
                                "seeded random other label), e.g. 0.1."),
    review_share: float | None = typer.Option(None, help="Review suspected label errors (needs cleanlab): a "
                                              "reliable reviewer answers this share of the labels, e.g. 0.15."),
    workers: int = typer.Option(2, min=1, help="Parallel processes (1: in this process)."),
    out: Path = typer.Option(Path("./sim-results"), help="Output folder (JSON, CSV, PNG, Markdown)."),
    task: str = typer.Option("classification", help="'spans': SOURCES is one folder with pool.jsonl and test.jsonl "
                             "of {text, spans} (tests/data/ner); sequence strategies (random, mnlp, "
                             "least_confidence_sequence, token_entropy), entity F1 curves; --budget and one "
                             "--batch-sizes apply."),
) -> None:
    """Simulate campaigns against an oracle through the server's own controller and strategies.

    Example: alloop simulate digits --strategies random,margin,badge --seeds 5 --out ./sim-results

    Multi-label sets (multilabel_synthetic, yeast): alloop simulate yeast --strategies random,mmc,br_margin --seeds 5

    A paper's protocol (Lu et al. 2023): alloop simulate heart.svmlight --model 'svm[gamma=auto]'
    --no-one-class-rescue --eval-size 0.4 --scale train --budget all --batch-sizes 1 --seeds 20
    """
    from alloop.models.sklearn import CALIBRATIONS
    from alloop.simulate import command
    from alloop.simulate.datasets import SCALES
    from alloop.simulate.multilabel import CATALOG as MULTILABEL_SETS

    if task == "spans":  # spans: alloop.simulate.spans
        _simulate_spans(sources, strategies or "random,mnlp", seeds, batch_sizes, budget, workers, out)
        return
    if any(source in MULTILABEL_SETS for source in sources):  # issue 20: label sets (alloop.simulate.multilabel)
        _simulate_multilabel(sources, strategies or "random,margin", seeds, budget, batch_sizes, initial, model,
                             model_params, workers, out)
        return
    strategies = strategies or "random,margin"
    if task != "classification":
        raise typer.BadParameter(f"--task {task!r}: use 'classification' or 'spans'")
    try:
        if initial is not None and initial_per_class is not None:
            raise ValueError("--initial and --initial-per-class exclude each other")
        if scale is not None and scale not in SCALES:
            raise ValueError(f"--scale {scale!r}: use 'train', 'all' or 'none'")
        if calibration not in CALIBRATIONS:
            raise ValueError(f"--calibration {calibration!r}: use 'none', 'sigmoid' or 'isotonic'")
        options = {"strategies": command.parse_strategies(strategies), "seeds": command.parse_seeds(seeds),
                   "batch_sizes": command.parse_ints(batch_sizes) if batch_sizes else None,
                   "budget": command.parse_budget(budget), "initial": initial, "initial_per_class": initial_per_class,
                   "eval_size": command.parse_eval_size(eval_size), "pool_size": pool_size, "scale": scale,
                   "random_factor": random_factor, "round_files": round_files, "noise": noise,
                   "review_share": _review_share(review_share),
                   "model": command.parse_model(model, model_params, calibration=calibration,
                                                one_class_rescue=one_class_rescue),
                   "cold_start": cold_start, "label_column": label_column,
                   "text_column": text_column, "encoder": encoder, "cache_dir": str(cache_dir) if cache_dir else None}
        chosen = command.parse_peers(peers)
        if chosen and options["model"]:
            from alloop.simulate.peers import check_peer_model

            check_peer_model(options["model"], n_classes=2)
    except (KeyError, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from None
    try:
        command.run_command(sources, options=options, out=out, workers=workers, peers=chosen, share=target_share)
    except (RuntimeError, OSError, ImportError, ValueError, KeyError) as exc:  # SimulationFailed is a RuntimeError
        typer.echo(f"simulation failed: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"results in {out}")


def _simulate_spans(sources: list[str], strategies: str, seeds: str, batch_sizes: str, budget: str | None,
                    workers: int, out: Path) -> None:
    """``alloop simulate --task spans FOLDER``: span-labeling campaigns (:mod:`alloop.simulate.spans`)."""
    from alloop.simulate import command
    from alloop.simulate.spans import run_spans_command
    from alloop.strategies.sequence import check

    try:
        if len(sources) != 1:
            raise ValueError("--task spans takes one data folder")
        names = [s.strip() for s in strategies.split(",") if s.strip()]
        for name in names:
            check(name.partition("[")[0], None)
        sizes = command.parse_ints(batch_sizes) if batch_sizes else (20,)
        if len(sizes) != 1:
            raise ValueError("--task spans takes one batch size")
        labels = int(budget) if budget else 300
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    try:
        run_spans_command(sources[0], names, list(command.parse_seeds(seeds)), budget=labels, batch_size=sizes[0],
                          workers=workers, out=out)
    except ValueError as exc:  # not a spans data folder, or answers the project refuses
        raise typer.BadParameter(str(exc)) from None
    except (RuntimeError, OSError, ImportError) as exc:
        typer.echo(f"simulation failed: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"results in {out}")


if __name__ == "__main__":
    app()
