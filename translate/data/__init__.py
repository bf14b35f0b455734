"""Data: layouts (detect + validate), datasets and transforms. ``build_dataset`` is the one entry point."""

from __future__ import annotations

from translate.config import DataConfig
from translate.errors import UserError

# layout -> builder(cfg, seed, note) -> dataset. Each layout module registers itself here.
BUILDERS = {}
# which layouts each model task accepts, and the flag that gives each layout
TASK_LAYOUTS = {
    "paired": ("paired",),
    "unpaired": ("unpaired",),
    "labelled": ("labelled",),
    "unconditional": ("images", "labelled", "toy"),
}
LAYOUT_FLAGS = {"paired": "--paired DIR", "unpaired": "--unpaired DIR", "labelled": "--labelled DIR", "images": "--images DIR", "toy": "--toy NAME"}


def builder(layout: str):
    def wrap(fn):
        BUILDERS[layout] = fn
        return fn

    return wrap


def build_dataset(cfg: DataConfig, task: str, model_name: str, seed: int, note=lambda msg: None):
    accepted = TASK_LAYOUTS[task]
    if cfg.layout not in accepted:
        flags = " or ".join(LAYOUT_FLAGS[k] for k in accepted)
        raise UserError(f"model '{model_name}' trains on {task} data: pass {flags} (got {LAYOUT_FLAGS[cfg.layout]})")
    if cfg.layout not in BUILDERS:
        raise UserError(f"the {cfg.layout} layout is not available in this version")
    return BUILDERS[cfg.layout](cfg, seed, note)


@builder("paired")
def _paired(cfg: DataConfig, seed: int, note):
    from translate.data.datasets import PairedDataset
    from translate.data.layouts import find_paired

    return PairedDataset(find_paired(cfg.root, note), cfg, seed)
from translate.data import unpaired as _unpaired  # noqa: E402,F401  (registers the unpaired layout)

from translate.data import labelled  # noqa: E402,F401  (registers the labelled and images layouts)
from translate.data import toy  # noqa: E402,F401  (registers the toy layout)
