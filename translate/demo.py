"""``translate demo``: the main job on a small built-in dataset generated on the fly.

Draws 64 sketch|picture pairs (shapes and their edge maps, the edges2shoes task in miniature), trains
pix2pix on them at 64x64 on whatever device is available, converts 8 held-out sketches and prints where
everything went. A few minutes on a laptop CPU.
"""

from __future__ import annotations

from pathlib import Path

from translate import api
from translate.data.synthetic import make_paired
from translate.inference import convert_folder


def run_demo(runs_dir: str | Path = "runs", steps: int = 300, device: str = "auto", progress: bool | None = None) -> dict:
    runs_dir = Path(runs_dir)
    data = runs_dir / "demo-data"
    if not (data / "train").is_dir():
        make_paired(data / "train", n=64, size=64, seed=0)
        make_paired(data / "val", n=8, size=64, seed=1)
    cfg = api.resolve_config({
        "data": {"layout": "paired", "root": str(data / "train"), "load_size": 72, "crop_size": 64},
        "train": {"steps": steps, "steps_decay": steps // 2, "batch_size": 4, "log_every": 25, "sample_every": 100,
                  "checkpoint_every": 100, "device": device},
        "run": {"name": "demo", "runs_dir": str(runs_dir)},
    })
    result = api.fit(cfg, progress=progress)
    model, _ = api.load_run(result["run_dir"], device=device)
    out = result["run_dir"] / "converted-val"
    report = convert_folder(model, data / "val", out, ab="left")
    return {**result, "converted": out, "convert_report": report}
