"""``translate sample``: draw a grid of new images (or 2-D points) from a trained unconditional or
labelled run. The noise comes from ``seed``, so the same seed gives the same grid."""

from __future__ import annotations

from pathlib import Path

import torch

from translate import api, pictures
from translate.data.image_files import IMAGE_EXTS
from translate.errors import ArgumentError, WrongRunError
from translate.models.base import Sampler


def draw(model, n: int, label: str | None = None, seed: int = 0) -> tuple[torch.Tensor, int]:
    """(samples, images per row) of a sampling run's model (``Sampler.draw``). A labelled model without
    ``label`` gives one row per class."""
    if not isinstance(model, Sampler):
        raise WrongRunError(f"{model.name} translates images ({model.task}) and does not draw samples", translates=True)
    return model.draw(n, label, seed)


def write(samples: torch.Tensor, per_row: int, out: Path) -> Path:
    """Images as a grid PNG; 2-D points as a scatter plot. Written atomically."""
    return pictures.write_grid({"samples": samples}, Path(out), nrow=per_row, plot_size=512)


def sample_run(run_dir: str | Path, n: int = 64, out: str | Path | None = None, label: str | None = None,
               seed: int = 0, device: str = "cpu") -> Path:
    out = Path(out) if out else Path(run_dir) / "samples" / f"sample_{label + '_' if label else ''}seed{seed}.png"
    if out.suffix.lower() not in IMAGE_EXTS:
        raise ArgumentError("{out} must name an image file (.png, .jpg, ...), not '{value}'", "out", value=str(out))
    model, _ = api.load_run(run_dir, device=device)
    samples, per_row = draw(model, n, label, seed)
    return write(samples, per_row, out)
