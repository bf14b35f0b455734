"""The run folder: config.yaml, metrics.csv, results.png, samples/, checkpoints/, generator.pt, log.txt."""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
import os
import shutil
from pathlib import Path

import torch

from translate.errors import ArgumentError, DiskFullError, UserError
from translate.files import atomic_save, atomic_write_text, link_or_copy, remove_stale_temps, safe_load

CHECKPOINTS, SAMPLES, WEIGHTS, METRICS, CONFIG, LOG = "checkpoints", "samples", "generator.pt", "metrics.csv", "config.yaml", "log.txt"
RESULTS, TENSORBOARD = "results.png", "tensorboard"
LAST, PREVIOUS = "last.pt", "previous.pt"  # under CHECKPOINTS: the newest full state and the one before it
BEST, WEIGHTS_BEST = "best.pt", "generator_best.pt"  # with evaluation: the state (under CHECKPOINTS) and weights that scored best
DATA_FILES = "data.txt"  # the names of a run's data files, relative to its data folder: a resume checks moved data by them
STAGED = f".{LAST}.next"  # under CHECKPOINTS: a new state, complete, before it is renamed to LAST
log = logging.getLogger("translate")


def weights_payload(model) -> dict:
    """What ``generator.pt`` holds: enough to rebuild the model for inference, and no code."""
    return {"model": model.name, "info": dataclasses.asdict(model.info), "state": model.inference_state()}


def new_run_dir(runs_dir: str | Path, name: str) -> Path:
    """``runs/name``, or ``runs/name-2``, ``-3``... : a new run never overwrites an old one."""
    root = Path(runs_dir)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(1, 100000):
        path = root / (name if i == 1 else f"{name}-{i}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        (path / CHECKPOINTS).mkdir()
        (path / SAMPLES).mkdir()
        return path
    raise RuntimeError(f"no free run name under {root}")


def write_checkpoint(state: dict, ckpt_dir: Path, step: int, keep: int, rotate: bool = True, keep_previous: bool = True) -> Path:
    """Write ``state`` as ``last.pt``; the former ``last.pt`` becomes ``previous.pt`` when ``rotate``. Without
    ``keep_previous`` there is no ``previous.pt``: one full state, replaced atomically.

    Crash-safe order: the new state is written to a temporary file first, then ``last.pt`` is renamed to
    ``previous.pt``, then the temporary file to ``last.pt``; at every instant ``last.pt`` or
    ``previous.pt`` holds a complete checkpoint. ``keep`` > 0 also keeps the newest ``keep``
    ``step_XXXXXXXX.pt``, hard links of the states (no extra space where the file system links). A full
    disk leaves both as they were and raises DiskFullError naming ``last.pt``."""
    ckpt_dir = Path(ckpt_dir)
    last, staged = ckpt_dir / LAST, ckpt_dir / STAGED
    try:
        atomic_save(state, staged)
    except DiskFullError as exc:
        raise DiskFullError(last, exc.reason, exc.needed, exc.free, kept=last.exists()) from None
    if rotate and keep_previous and last.exists():
        os.replace(last, ckpt_dir / PREVIOUS)
    os.replace(staged, last)
    if not keep_previous:
        (ckpt_dir / PREVIOUS).unlink(missing_ok=True)
    if keep > 0:
        link_or_copy(last, ckpt_dir / f"step_{step:08d}.pt")
    rotated = sorted(ckpt_dir.glob("step_*.pt"))
    for old in rotated[: max(0, len(rotated) - keep)]:
        old.unlink(missing_ok=True)
    return last


def write_best(state: dict | None, weights: dict, run_dir: Path) -> Path:
    """The best-scoring generator weights as ``generator_best.pt`` and, where ``state`` is given, the whole state
    as ``checkpoints/best.pt`` (an older one is removed without it), each written atomically (a crash leaves the
    former best file whole). Returns the weights' file."""
    path = Path(run_dir) / WEIGHTS_BEST
    atomic_save(weights, path)
    if state is not None:
        atomic_save(state, Path(run_dir) / CHECKPOINTS / BEST)
    else:
        (Path(run_dir) / CHECKPOINTS / BEST).unlink(missing_ok=True)
    return path


def checkpoint_parts(path: Path) -> dict[str, int]:
    """Bytes of the tensors of a checkpoint by what they are: ``weights`` (every network), ``optimizers`` (Adam's
    moments and steps), ``ema`` (the generator's moving average), ``other`` (scalers, random states); read
    without loading the tensors (memory-mapped)."""
    state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    parts = {"weights": "model", "optimizers": "optimizers", "ema": "ema"}
    sizes = {name: _tensor_bytes(state.pop(key, None)) for name, key in parts.items()}
    return {**sizes, "other": _tensor_bytes(state)}


def _tensor_bytes(value) -> int:
    if hasattr(value, "nbytes") and hasattr(value, "dtype"):
        return int(value.nbytes)
    if isinstance(value, dict):
        return sum(_tensor_bytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_tensor_bytes(v) for v in value)
    return 0


def weights_file(run_dir: Path, which: str | None = None) -> Path:
    """The generator weights of a run: ``best`` (generator_best.pt), ``last`` (generator.pt), or by default
    the best where the run kept one, else the last."""
    if which not in (None, "best", "last"):
        raise ArgumentError("{weights} must be best or last, not '{value}'", "weights", value=which)
    best = Path(run_dir) / WEIGHTS_BEST
    if which == "best" and not best.is_file():
        raise ArgumentError("{run_dir}: no {best} (the run was trained without {eval_every}); use {weights} last",
                            "weights", "eval_every", run_dir=run_dir, best=WEIGHTS_BEST)
    return best if which == "best" or which is None and best.is_file() else Path(run_dir) / WEIGHTS


def load_checkpoint(run_dir: Path) -> dict | None:
    """The newest full state of a run: ``last.pt``, or ``previous.pt`` when ``last.pt`` is missing or cannot
    be loaded (a crash while a checkpoint was written). A damaged ``last.pt`` is moved aside (``last.pt.damaged``)
    so that the next checkpoint does not rotate it into ``previous.pt``. None when the run has no state to
    load: no checkpoint yet, or a damaged ``last.pt`` and no ``previous.pt``."""
    ckpt_dir = Path(run_dir) / CHECKPOINTS
    last, previous = ckpt_dir / LAST, ckpt_dir / PREVIOUS
    if not last.is_file() and not previous.is_file():
        return None
    try:
        return safe_load(last)
    except UserError as exc:
        problem = str(exc)
    state = safe_load(previous) if previous.is_file() else None
    if last.exists():
        os.replace(last, ckpt_dir / f"{LAST}.damaged")
        problem += f" (moved to {LAST}.damaged)"
    if state is None:
        log.warning("%s; there is no %s to fall back on", problem, PREVIOUS)
        return None
    log.warning("%s; resuming from %s (step %d) instead", problem, previous, state["step"])
    return state


def remove_leftovers(run_dir: Path) -> int:
    """Before a resume: delete what a killed process left half-done in the run folder (temporary files of
    atomic writes, a staged checkpoint that was never renamed). Returns how many files were removed."""
    run_dir = Path(run_dir)
    staged = run_dir / CHECKPOINTS / STAGED
    removed = int(staged.is_file())
    staged.unlink(missing_ok=True)
    return removed + sum(remove_stale_temps(d) for d in (run_dir, run_dir / CHECKPOINTS, run_dir / SAMPLES))


def forget_progress(run_dir: Path) -> None:
    """Before a run starts again from step 0 in its folder: drop the metrics of the attempt that stopped."""
    (Path(run_dir) / METRICS).unlink(missing_ok=True)
    shutil.rmtree(Path(run_dir) / TENSORBOARD, ignore_errors=True)


class MetricsLog:
    """metrics.csv with a column per logged key; a key first seen later widens the file. ``write=False``
    (the processes other than rank 0 of a distributed run) keeps the rows in memory and touches no file."""

    def __init__(self, path: Path, write: bool = True):
        self.path, self.write = path, write
        self.columns: list[str] = []
        self.rows: list[dict] = []
        if write and path.exists():
            with open(path, newline="") as fh:
                reader = csv.DictReader(fh)
                self.columns = list(reader.fieldnames or [])
                self.rows = list(reader)

    def truncate_after(self, step: int) -> None:
        """On resume: drop rows logged after the checkpoint (a killed run may have logged past it)."""
        self.rows = [r for r in self.rows if int(float(r["step"])) <= step]
        self._write()

    def append(self, row: dict) -> None:
        for key in row:
            if key not in self.columns:
                self.columns.append(key)
        self.rows.append({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
        self._write()

    def _write(self) -> None:
        if not self.write:
            return
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.columns, restval="")
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_text(self.path, buf.getvalue())
