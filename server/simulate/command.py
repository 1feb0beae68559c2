"""What ``alloop simulate`` does after typer parsed its options: build grids, run, write, print."""

from __future__ import annotations

import json
import math
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from alloop import strategies
from alloop.simulate.datasets import CATALOG, DataRef
from alloop.simulate.grid import Grid, parse_strategy, split_strategies
from alloop.simulate.peers import PEERS
from alloop.simulate.pipeline import simulate, write_outputs
from alloop.simulate.report import fmt_ci, fmt_pct, protocol_line

__all__ = [
    "data_ref",
    "parse_budget",
    "parse_eval_size",
    "parse_model",
    "parse_ints",
    "parse_peers",
    "parse_seeds",
    "parse_strategies",
    "run_command",
]


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"5"`` -> seeds 0..4; ``"0,3,7"`` -> those seeds."""
    if "," not in text:
        return tuple(range(parse_ints(text)[0]))
    return parse_ints(text, minimum=0)


def parse_ints(text: str, minimum: int = 1) -> tuple[int, ...]:
    """``"10,20"`` -> (10, 20); every value at least ``minimum``."""
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"{text!r}: expected comma-separated integers") from None
    if not values or min(values) < minimum:
        raise ValueError(f"{text!r}: expected integers of at least {minimum}")
    return values


def parse_strategies(text: str) -> tuple[str, ...]:
    """Comma-separated strategies, each a registered name or ``name[key=value,...]``.

    An unknown name lists the known ones; an unknown parameter lists the accepted ones.
    """
    entries = split_strategies(text)
    for entry in entries:
        name, params = parse_strategy(entry)
        strategies.registry.check_params(strategies.get(name), params)
    return entries


def parse_model(
    text: str | None, params_json: str | None = None, *, calibration: str = "none", one_class_rescue: bool = True
) -> dict[str, Any] | None:
    """``"svm[gamma=auto,C=1]"`` and/or ``--model-params '{"gamma": "auto"}'`` -> a checked model spec.

    The model is built once here, with its parameters validated by scikit-learn, so a typo fails
    before any data is loaded or any campaign starts. None: each dataset's protocol model (then
    neither parameters nor calibration may be given, since there is nothing to apply them to).
    """
    from alloop.models import UnknownModel, check_model

    extra: dict[str, Any] = {}
    if params_json:
        try:
            extra = json.loads(params_json)
        except json.JSONDecodeError as exc:
            raise ValueError(f"--model-params {params_json!r}: not JSON ({exc.msg})") from None
        if not isinstance(extra, dict):
            raise ValueError(f"--model-params {params_json!r}: expected a JSON object such as '{{\"gamma\": \"auto\"}}'")
    if not text:
        if extra or calibration != "none" or not one_class_rescue:
            raise ValueError("--model-params, --calibration and --no-one-class-rescue need --model")
        return None
    name, params = parse_strategy(text)
    both = sorted(set(params) & set(extra))
    if both:
        raise ValueError(f"{', '.join(both)} given both in --model brackets and in --model-params")
    spec = {"name": name, "params": {**params, **extra}, "calibration": calibration,
            "one_class_rescue": one_class_rescue}
    try:
        check_model(spec, n_classes=2)
    except (UnknownModel, ImportError) as exc:
        raise ValueError(str(exc)) from None
    return spec


def parse_budget(text: str | None) -> int | str | None:
    """``"300"`` -> 300, ``"all"`` -> the whole pool, None -> the dataset's protocol."""
    if text is None:
        return None
    if text.strip().lower() == "all":
        return "all"
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"--budget {text!r}: a whole number of labels, or 'all' (the whole pool)") from None
    if value < 1:
        raise ValueError(f"--budget {text!r}: at least 1 label")
    return value


def parse_eval_size(text: str | None) -> float | None:
    """``"0.4"`` -> a 40% eval split, ``"400"`` -> 400 eval items, None -> the dataset's protocol."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (0 < value < 1 or (value >= 1 and value.is_integer())):
        raise ValueError(f"--eval-size {text!r}: a share between 0 and 1 (0.4) or a whole count (400)")
    return value if value < 1 else int(value)


def parse_peers(text: str) -> dict[str, tuple[str, ...]] | None:
    """``""`` -> none, ``"all"`` -> every peer strategy, else ``"modAL:margin_sampling,small-text:BreakingTies"``."""
    if not text.strip():
        return None
    if text.strip() == "all":
        return {lib: tuple(names) for lib, names in PEERS.items()}
    chosen: dict[str, list[str]] = {}
    for item in text.split(","):
        lib, _, name = item.strip().partition(":")
        if lib not in PEERS or (name and name not in PEERS[lib]):
            known = ", ".join(f"{lb}:{n}" for lb, names in PEERS.items() for n in names)
            raise ValueError(f"unknown peer {item!r}; known: {known}")
        chosen.setdefault(lib, []).extend([name] if name else list(PEERS[lib]))
    return {lib: tuple(names) for lib, names in chosen.items()}


def data_ref(
    source: str, *, label_column: str, text_column: str, encoder: str, cache_dir: str | None
) -> DataRef:
    """A catalog name, or a path to a CSV / JSONL / parquet file."""
    if source in CATALOG:
        return DataRef(name=source, encoder=encoder, cache_dir=cache_dir)
    path = Path(source)
    if not path.is_file():
        raise ValueError(
            f"{source!r} is neither a catalog dataset ({', '.join(sorted(CATALOG))}) nor a file"
        )
    return DataRef(
        path=str(path.resolve()),
        label_column=label_column,
        text_column=text_column,
        encoder=encoder,
        cache_dir=cache_dir,
    )


def _print(payload: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"labels to {round(100 * payload['target_share'])}% of full-data accuracy")
    for column in (
        "dataset",
        "batch",
        "method",
        "AUBC",
        "labels to target",
        "reached",
        "saved vs random",
    ):
        table.add_column(column, overflow="fold")
    for r in payload["rows"]:
        saved = r.get("saved_vs_random", {}).get("share")
        table.add_row(
            escape(r["dataset"]),
            str(r["batch_size"]),
            escape(r["method"]),  # strategy parameters are in brackets, which rich reads as markup
            fmt_ci(r["aubc"]),
            fmt_ci(r["labels_to_target"], 0),
            f"{r['reached']}/{r['seeds']}",
            fmt_pct(saved),
        )
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)
    console.print(table)
    for dataset in payload["datasets"]:  # the protocol that ran, parameters included, unwrapped
        console.print(escape(protocol_line(dataset)), soft_wrap=True, highlight=False)


def run_command(
    sources: list[str],
    *,
    options: dict[str, Any],
    out: Path,
    workers: int,
    peers: dict[str, tuple[str, ...]] | None,
    share: float,
    quiet: bool = False,
) -> dict[str, Any]:
    """Run the grid on every source, write everything under ``out``, print the summary table."""
    started = time.time()
    model = options.pop("model", None)  # a checked spec (parse_model), or None: each dataset's protocol
    ref_options = {
        k: options.pop(k) for k in ("label_column", "text_column", "encoder", "cache_dir")
    }
    grids = [Grid(data=data_ref(s, **ref_options), model=model, **options) for s in sources]
    results = simulate(grids, workers=workers, peers=peers, quiet=quiet)
    command = "alloop " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv else None
    payload = write_outputs(out, results, share=share, started=started, command=command)
    if not quiet:
        _print(payload)
    return payload
