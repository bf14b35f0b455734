"""``RUN/results.png``: the curves of metrics.csv, one panel per loss or metric and one for the learning rate.

Drawn with matplotlib's object interface (a Figure on the Agg canvas), never pyplot, so drawing changes no
global backend or state of the caller; the PNG is rendered in memory and written atomically.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from translate.engine import run_folder
from translate.errors import UserError
from translate.files import atomic_write_bytes

NOT_PLOTTED = ("step", "epoch", "images_per_s", "data_wait")
PANELS_PER_ROW = 4
PANEL = (3.2, 2.4)  # inches (at 100 dpi) per panel
SMOOTH_FROM = 30  # rows from which a panel also shows a moving average


def _points(rows: list[dict], key: str) -> tuple[list[float], list[float]]:
    """(steps, values) of ``key``, skipping rows without it (a column first logged later) and non-finite values."""
    xs, ys = [], []
    for row in rows:
        try:
            x, y = float(row["step"]), float(row.get(key) or "nan")
        except (KeyError, TypeError, ValueError):
            continue
        if math.isfinite(y):
            xs.append(x)
            ys.append(y)
    return xs, ys


def _smooth(ys: list[float], weight: float = 0.9) -> list[float]:
    """Exponential moving average, debiased so the first values are not pulled towards zero."""
    out, avg = [], 0.0
    for i, y in enumerate(ys, 1):
        avg = weight * avg + (1 - weight) * y
        out.append(avg / (1 - weight**i))
    return out


def render(columns: list[str], rows: list[dict]) -> bytes:
    """PNG bytes: a panel per column of ``rows`` against the step, the learning rate last; from
    ``SMOOTH_FROM`` rows on, a loss also gets its moving average."""
    keys = [c for c in columns if c not in NOT_PLOTTED and c != "lr"] + [c for c in columns if c == "lr"]
    ncols = max(1, min(PANELS_PER_ROW, len(keys)))
    nrows = max(1, math.ceil(len(keys) / ncols))
    width, height = PANEL[0] * ncols, PANEL[1] * nrows
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    # fixed margins in inches (a layout engine would double the drawing time)
    fig.subplots_adjust(left=0.55 / width, right=1 - 0.15 / width, bottom=0.45 / height, top=1 - 0.3 / height,
                        wspace=0.75 / (PANEL[0] - 0.75), hspace=0.75 / (PANEL[1] - 0.75))
    for i, key in enumerate(keys):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        xs, ys = _points(rows, key)
        if len(xs) < SMOOTH_FROM or key == "lr":
            ax.plot(xs, ys, linewidth=1.2, marker=".")
        else:  # a noisy loss: the rows faintly, their moving average on top
            ax.plot(xs, ys, linewidth=0.8, alpha=0.35, color="C0")
            ax.plot(xs, _smooth(ys), linewidth=1.5, color="C0")
        ax.set_title(key, fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4), useOffset=False)
        ax.grid(alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def write_results(run_dir: str | Path, metrics: run_folder.MetricsLog | None = None) -> Path:
    """Draw ``run_dir/results.png`` from ``metrics`` (the run's metrics.csv when not given)."""
    run_dir = Path(run_dir)
    if metrics is None:
        path = run_dir / run_folder.METRICS
        if not path.is_file():
            raise UserError(f"{run_dir}: no {run_folder.METRICS} (not a run folder, or no metrics logged yet)")
        metrics = run_folder.MetricsLog(path)
    png = render(metrics.columns, metrics.rows)
    out = run_dir / run_folder.RESULTS
    atomic_write_bytes(out, png)
    return out
