"""The benchmark's tables: cells, columns, the markdown table and the machine header."""

from __future__ import annotations

import datetime
import math
import os
from pathlib import Path

from bench.timing import cpu_info, native_bf16

NOT_LOGGED = "-"


def _cell(value, digits: int = 3) -> str:
    if value is None:
        return NOT_LOGGED
    if isinstance(value, float):
        if math.isnan(value):
            return NOT_LOGGED
        return f"{value:.{digits}f}"
    return str(value)


E2E_COLUMNS = [("case", "case"), ("variant", "variant"), ("iters", "iterations"), ("s_per_iter", "s/iter"),
               ("speedup", "speed-up"), ("images_per_s", "images/s (metrics)"), ("data_wait", "data wait"),
               ("peak_rss_mb", "peak memory MB"), ("gflop_s", "GFLOP/s"), ("pct_peak", "% of peak")]
CONVERT_COLUMNS = [("case", "case"), ("variant", "variant"), ("images", "images"), ("images_per_s", "images/s"),
                   ("speedup", "speed-up"), ("peak_rss_mb", "peak memory MB"), ("wall_s", "wall s (all images)"),
                   ("cold_s", "first run s (compiling)")]


def format_cell(key: str, value, row: dict | None = None) -> str:
    if key == "speedup" and value is not None:
        return f"{value:.2f}x"
    if key == "data_wait" and value is not None:
        return f"{100 * value:.0f}%"
    if key == "pct_peak":
        if math.isnan(value):
            return NOT_LOGGED
        return f"{value:.{1 if value >= 1 else 2}f}%" + ("*" if (row or {}).get("from_metrics") else "")
    if key in ("peak_rss_mb", "gflop_s"):
        return _cell(value, 0 if key == "peak_rss_mb" else 1)
    return _cell(value)


def table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    lines = ["| " + " | ".join(title for _, title in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(format_cell(k, r.get(k), r) for k, _ in columns) + " |" for r in rows]
    return "\n".join(lines)


def machine_header(peak: dict) -> str:
    import torch

    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    model, isa = cpu_info(text)
    lines = [(f"CPU: {model} ({', '.join(isa) or 'no AVX2'}; bf16 {'native' if native_bf16(isa) else 'emulated'}), "
              f"{os.cpu_count()} logical CPUs"),
             f"torch {torch.__version__}, {torch.get_num_threads()} threads; {datetime.date.today().isoformat()}",
             (f"measured peak: fp32 {peak['fp32'] / 1e9:.1f} GFLOP/s, bf16 {peak['bf16'] / 1e9:.1f} GFLOP/s "
              f"(best of a 3x3 convolution 4x256x64x64 and a 2048x2048 matmul)")]
    return "\n".join(lines)



def print_rows(rows, header: bool) -> None:
    """Rows of the step mode, printed as they come (the header with the first)."""
    cols = ["variant", "model", "size", "batch", "precision", "channels_last", "device", "s_per_iter", "train_img_s", "peak_mem_mb", "gflop_s", "pct_peak", "convert_img_s"]
    if header:
        print("| " + " | ".join(cols) + " |")
        print("|" + "---|" * len(cols))
    for r in rows:
        cells = [format_cell(c, r[c]) if c == "pct_peak" else f"{r[c]:.3f}" if isinstance(r.get(c), float) else str(r.get(c, ""))
                 for c in cols]
        print("| " + " | ".join(cells) + " |", flush=True)
