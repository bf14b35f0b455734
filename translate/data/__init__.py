"""Data: layouts (detect + validate), datasets and transforms. ``build_dataset`` is the one entry point."""

from __future__ import annotations

from translate.config import DataConfig
from translate.data.datasets import PairedDataset, report_once
from translate.data.labelled import ImageFolderDataset, find_labelled
from translate.data.layouts import find_images, find_paired
from translate.data.toy import ToyDataset
from translate.data.unpaired import UnpairedDataset, find_unpaired
from translate.errors import ArgumentError, UserError

# which layouts each model task accepts
TASK_LAYOUTS = {
    "paired": ("paired",),
    "unpaired": ("unpaired",),
    "labelled": ("labelled",),
    "unconditional": ("images", "labelled", "toy"),
}



def _reported(layout):
    """The layout, its unreadable entries reported (once each) as skipped."""
    for problem in layout.problems:
        report_once(problem)
    return layout


# layout -> builder(cfg, seed, note) -> dataset
BUILDERS = {
    "paired": lambda cfg, seed, note: PairedDataset(_reported(find_paired(cfg.root, note)), cfg, seed),
    "unpaired": lambda cfg, seed, note: UnpairedDataset(_reported(find_unpaired(cfg.root, note)), cfg, seed),
    "labelled": lambda cfg, seed, note: ImageFolderDataset(_reported(find_labelled(cfg.root, note)), cfg, seed),
    "images": lambda cfg, seed, note: ImageFolderDataset(_reported(find_images(cfg.root, note)), cfg, seed),
    "toy": lambda cfg, seed, note: ToyDataset(cfg.root or "grid25", seed),
}


def build_dataset(cfg: DataConfig, task: str, model_name: str, seed: int, note=lambda msg: None):
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
    return BUILDERS[cfg.layout](cfg, seed, note)
