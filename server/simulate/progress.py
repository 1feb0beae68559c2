"""Progress for long simulation steps: a rich bar on a terminal, a plain line per tenth elsewhere.

A log file or a pipe cannot redraw a bar, so there each step that crosses a tenth of the total
prints one line (``description: done/total unit, elapsed, ~left``).
"""

from __future__ import annotations

from datetime import timedelta

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["advance", "progress_bar"]


def progress_bar(quiet: bool, console: Console | None = None) -> Progress:
    """A bar with done/total, elapsed and remaining time; ``quiet`` shows nothing."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=quiet,
        transient=False,
    )


def advance(progress: Progress, task: TaskID, step: int = 1, unit: str = "jobs") -> None:
    """``step`` more done; where the bar cannot redraw (a log, a pipe), a line at every tenth crossed."""
    state = next(t for t in progress.tasks if t.id == task)
    before = int(state.completed)
    progress.advance(task, step)
    if progress.disable or progress.console.is_terminal:
        return
    done, total = before + step, int(state.total or 0)
    if done * 10 // max(1, total) == before * 10 // max(1, total) and done != total:
        return
    elapsed = state.elapsed or 0.0
    left = elapsed / done * (total - done) if done else 0.0
    progress.console.print(
        f"{state.description}: {done}/{total} {unit}, {timedelta(seconds=round(elapsed))} elapsed, "
        f"~{timedelta(seconds=round(left))} left",
        highlight=False,
        soft_wrap=True,
    )
