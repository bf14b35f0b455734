"""Training progress: one bar line on a terminal, plain log lines otherwise.

On a terminal the bar keeps what must always show in 80 columns (``train ━━━━  120/2000  3.4 img/s
0:00:35 eta 0:09:12``; the bar shrinks to make room) and each log row is printed as a line above it.
Off a terminal (a pipe, a file, a notebook's captured output) each log row is a log line.
"""

from __future__ import annotations

import logging
from typing import Callable

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.text import Text

log = logging.getLogger("translate")
NOT_LOSSES = ("step", "epoch", "lr", "images_per_s", "data_wait")


class _ImagesPerSecond(ProgressColumn):
    """Iterations per second (rich's estimate over the last 30 s) times the batch size."""

    def __init__(self, batch_size: int):
        super().__init__()
        self.batch_size = batch_size

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed * self.batch_size:.3g} img/s" if speed else "- img/s", style="progress.data.speed")


def row_text(row: dict, total: int) -> str:
    """A metrics row as one line: step, epoch, speed, learning rate, then every loss."""
    losses = " ".join(f"{k}={v:.3g}" for k, v in row.items() if k not in NOT_LOSSES)
    return (f"step {row['step']}/{total} epoch {row['epoch']:.2f} {row['images_per_s']:.2f} img/s "
            f"lr={row['lr']:.2e} {losses}")


class TrainProgress:
    """``advance`` moves the bar; ``update`` reports a metrics row (above the bar, or as a log line)."""

    def __init__(self, enabled: bool, total: int, start: int, batch_size: int = 1, console: Console | None = None,
                 clock: Callable[[], float] | None = None):
        self.enabled, self.total, self.start = enabled, total, start
        self.bar = None
        if enabled:
            self.bar = Progress(TextColumn("[bold]train"), BarColumn(bar_width=None), MofNCompleteColumn(),
                                _ImagesPerSecond(batch_size), TimeElapsedColumn(), TextColumn("eta"),
                                TimeRemainingColumn(), console=console, get_time=clock, expand=True)

    def __enter__(self):
        if self.bar:
            self.bar.__enter__()
            self.task = self.bar.add_task("train", total=self.total, completed=self.start)
        return self

    def advance(self, step: int) -> None:
        if self.bar:
            self.bar.update(self.task, completed=step)

    def update(self, step: int, row: dict) -> None:
        """The row goes to the log (the run's log.txt) either way; on a terminal it is printed above the bar,
        and the record is marked ``on_terminal`` so a terminal log handler can leave it out."""
        if self.bar:
            self.bar.update(self.task, completed=step)
            self.bar.console.print(row_text(row, self.total), highlight=False)
        log.info("%s", row_text(row, self.total), extra={"on_terminal": self.bar is not None})

    def __exit__(self, *exc):
        if self.bar:
            self.bar.__exit__(*exc)
