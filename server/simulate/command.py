"""What ``alloop simulate`` does after typer parsed its options: build grids, run, write, print."""

from __future__ import annotations

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
from alloop.simulate.report import fmt_ci, fmt_pct

__all__ = [
    "data_ref",
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
        table.add_column(column)
    for r in payload["rows"]:
        saved = r.get("saved_vs_random", {}).get("share")
        table.add_row(
            r["dataset"],
            str(r["batch_size"]),
            r["method"],
            fmt_ci(r["aubc"]),
            fmt_ci(r["labels_to_target"], 0),
            f"{r['reached']}/{r['seeds']}",
            fmt_pct(saved),
        )
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    console.print(table)


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
    name, params = options.pop("model", None), options.pop("model_params", {})
    model = {"name": name, "params": params} if name else None  # None: each dataset's protocol
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
