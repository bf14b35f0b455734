"""Data: layouts (detect + validate), datasets and transforms. ``build_dataset`` is the one entry point."""

from __future__ import annotations

from translate.config import DataConfig
from translate.data.datasets import PairedDataset, report_once
from translate.data.labelled import ImageFolderDataset, find_labelled
from translate.data.layouts import find_images, find_paired, readable
from translate.data.toy import ToyDataset
from translate.data.unpaired import UnpairedDataset, find_unpaired
from translate.data.image_files import image_size
from translate.errors import ArgumentError, ImageError, UserError

# which layouts each model task accepts
TASK_LAYOUTS = {
    "paired": ("paired",),
    "unpaired": ("unpaired",),
    "labelled": ("labelled",),
    "unconditional": ("images", "labelled", "toy"),
}



def _reported(layout):
    """The layout less its unreadable entries and files, each reported (once) as skipped."""
    for problem in layout.problems:
        report_once(problem)
    return readable(layout, report_once)


# layout -> builder(cfg, seed, note) -> dataset
BUILDERS = {
    "paired": lambda cfg, seed, note: PairedDataset(_reported(find_paired(cfg.root, note)), cfg, seed),
    "unpaired": lambda cfg, seed, note: UnpairedDataset(_reported(find_unpaired(cfg.root, note)), cfg, seed),
    "labelled": lambda cfg, seed, note: ImageFolderDataset(_reported(find_labelled(cfg.root, note)), cfg, seed),
    "images": lambda cfg, seed, note: ImageFolderDataset(_reported(find_images(cfg.root, note)), cfg, seed),
    "toy": lambda cfg, seed, note: ToyDataset(cfg.root or "grid25", seed),
}


def _check_batchable(layout, cfg: DataConfig, batch_size: int, probe: int = 64) -> None:
    """Images kept at their own size (preprocess none) can share a batch only if they have one size."""
    if cfg.preprocess != "none" or batch_size < 2 or layout is None:
        return
    files = layout.files()
    sizes = set()
    for path in files[:: max(1, len(files) // probe)]:
        try:
            sizes.add(image_size(path))
        except ImageError:
            continue
    if len(sizes) > 1:
        a, b = sorted(sizes)[:2]
        raise ArgumentError(f"with {{preprocess}}=none the images keep their own sizes, and they differ here (e.g. {a[0]}x{a[1]} "
                            f"and {b[0]}x{b[1]}), so a batch cannot hold them together; pass {{batch_size}}=1 or a "
                            f"{{preprocess}} that resizes", "preprocess", "batch_size")


def build_dataset(cfg: DataConfig, task: str, model_name: str, seed: int, note=lambda msg: None, batch_size: int = 1):
    """The training dataset of ``cfg`` for a model of ``task``. Layouts are named to the user as the
    arguments ``layout=<name>`` (the command line spells them as its data flags)."""
    accepted = TASK_LAYOUTS[task]
    if cfg.layout not in BUILDERS:
        raise UserError(f"data layout must be one of {', '.join(BUILDERS)}, not '{cfg.layout}'")
    if cfg.layout not in accepted:
        wanted = [f"layout={k}" for k in accepted]
        fields = " or ".join("{" + w + "}" for w in wanted)
        raise ArgumentError(f"model '{model_name}' trains on {task} data: pass {fields} (got {{layout={cfg.layout}}})",
                            *wanted, f"layout={cfg.layout}")
    dataset = BUILDERS[cfg.layout](cfg, seed, note)
    _check_batchable(getattr(dataset, "layout", None), cfg, batch_size)
    return dataset
