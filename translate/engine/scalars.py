"""Metrics rows to an experiment tracker besides metrics.csv: TensorBoard under ``RUN/tensorboard/``.

``logger="tensorboard"`` needs the tensorboard package (the ``tensorboard`` extra); Weights & Biases and
MLflow are not built in.
"""

from __future__ import annotations

from pathlib import Path

from translate.engine import run_folder
from translate.errors import ArgumentError


def tensorboard_writer():
    """torch's SummaryWriter class, or an error saying how to get it."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ArgumentError("{logger} tensorboard needs the tensorboard package: pip install tensorboard", "logger") from None
    return SummaryWriter


def require(kind: str) -> None:
    """Fail before a run starts when the tracker ``kind`` cannot be used."""
    if kind == "tensorboard":
        tensorboard_writer()


class ScalarLogger:
    """Each metrics row's values as scalars at its step (``kind`` "tensorboard"); nothing for "none"."""

    def __init__(self, kind: str, run_dir: Path, step: int = 0):
        self.writer = None
        if kind == "tensorboard":
            # a resumed run hides the events logged after its checkpoint, as metrics.csv drops those rows
            self.writer = tensorboard_writer()(str(Path(run_dir) / run_folder.TENSORBOARD), purge_step=step + 1 if step else None)

    def log(self, row: dict) -> None:
        if self.writer:
            for key, value in row.items():
                if key != "step":
                    self.writer.add_scalar(key, value, row["step"])
            self.writer.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.writer:
            self.writer.close()
