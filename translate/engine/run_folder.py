"""The run folder: config.yaml, metrics.csv, samples/, checkpoints/, generator.pt, log.txt."""

from __future__ import annotations

import csv
import dataclasses
import io
from pathlib import Path

from translate.files import atomic_write_text

CHECKPOINTS, SAMPLES, WEIGHTS, METRICS, CONFIG, LOG = "checkpoints", "samples", "generator.pt", "metrics.csv", "config.yaml", "log.txt"


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


class MetricsLog:
    """metrics.csv with a column per logged key; a key first seen later widens the file."""

    def __init__(self, path: Path):
        self.path = path
        self.columns: list[str] = []
        self.rows: list[dict] = []
        if path.exists():
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
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.columns, restval="")
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_text(self.path, buf.getvalue())
