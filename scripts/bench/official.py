"""The official pix2pix/CycleGAN code (upstream 2a7afba) run as a baseline: where to get it, the stubs its
imports need, and its train.py at a case's settings, timed as a whole process."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from bench.cases import Case
from bench.timing import timed

RECIPE = '''\
``--official DIR`` runs the official pix2pix/CycleGAN code (upstream commit 2a7afba) beside ours with the
same settings: its train.py (--n_epochs 1 --n_epochs_decay 0 --max_dataset_size N, so the iteration counts
match; --num_threads 4, its default) and, with ``--convert``, its test.py. DIR holds its .py files; to get
them, from any public mirror of junyanz/pytorch-CycleGAN-and-pix2pix that holds that commit (its archive of
the commit fails on a missing image, so take the files one by one):

    git clone --bare https://github.com/junyanz/pytorch-CycleGAN-and-pix2pix official.git
    cd official.git && for f in $(git ls-tree -r --name-only 2a7afba | grep '[.]py$'); do
        mkdir -p ../official/$(dirname $f) && git show 2a7afba:$f > ../official/$f; done

Its imports of ``wandb`` and ``dominate`` (logging and HTML pages, not timed work) are met by stub modules
written to a temporary folder put first on the PYTHONPATH of the official processes only; nothing is
installed.
'''


def official_env(stubs: Path, official: Path) -> dict:
    """The environment of the official processes: stubs for wandb and dominate first on the PYTHONPATH."""
    (stubs / "dominate").mkdir(parents=True, exist_ok=True)
    (stubs / "wandb.py").write_text("run = None\n")
    any_tag = ("class _Tag:\n    def __init__(self, *a, **k): self.head = self\n"
               "    def __enter__(self): return self\n    def __exit__(self, *a): return False\n"
               "    def __getattr__(self, name): return _Tag()\n    def __call__(self, *a, **k): return _Tag()\n"
               "    def add(self, *a, **k): return _Tag()\n    def render(self, *a, **k): return ''\n")
    (stubs / "dominate" / "__init__.py").write_text(any_tag + "document = _Tag\n")
    (stubs / "dominate" / "tags.py").write_text("from dominate import _Tag\n" + "".join(
        f"{t} = _Tag\n" for t in ("meta", "h3", "table", "tr", "td", "p", "a", "img", "br")))
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(stubs), str(official)])}



def missing(folder: str | Path) -> str | None:
    """Why ``folder`` cannot be run as the official code (with how to get it), or None when it can."""
    if all((Path(folder) / f).is_file() for f in ("train.py", "test.py")):
        return None
    return f"--official {folder}: no train.py and test.py there.\n\n{RECIPE.strip()}"


def fit_official(case: Case, data: Path, work: Path, official: Path, env: dict, iters: int, batch: int = 1,
                 cuda: bool = False) -> tuple[float, float]:
    """The official train.py at ``case``'s settings for ``iters`` iterations of ``batch`` images (one epoch of
    ``iters * batch`` images, no decay): (wall seconds, peak MB). At 2a7afba it has no device option (no
    ``--gpu_ids``): it takes cuda:0 where a GPU is visible, so ``cuda=False`` hides the GPUs from it."""
    name = f"{case.name}-official-b{batch}-{iters}"
    cmd = [sys.executable, str(official / "train.py"), "--dataroot", str(data), "--name", name,
           "--checkpoints_dir", str(work / "official"), "--model", case.official_model, "--netG", case.net_g,
           "--dataset_mode", "aligned" if case.paired else "unaligned", "--direction", "AtoB", "--batch_size", str(batch),
           "--load_size", str(case.load), "--crop_size", str(case.crop), "--no_html", "--n_epochs", "1",
           "--n_epochs_decay", "0", "--max_dataset_size", str(iters * batch), "--num_threads", "4"]
    cmd += [word for key, value in case.options for word in (f"--{key}", str(value))]
    return timed(cmd, env if cuda else {**env, "CUDA_VISIBLE_DEVICES": ""}, work, work / f"{name}.log")


def test_command(official: Path, folder: Path, checkpoints: Path, n: int, results: Path) -> list[str]:
    """The official test.py converting the first ``n`` images of ``folder`` with the unet_256 generator file
    ``checkpoints``/bench/latest_net_G.pth."""
    return [sys.executable, str(official / "test.py"), "--dataroot", str(folder), "--name", "bench",
            "--checkpoints_dir", str(checkpoints), "--model", "test", "--netG", "unet_256", "--norm", "batch",
            "--dataset_mode", "single", "--eval", "--num_test", str(n), "--preprocess", "none",
            "--results_dir", str(results)]
