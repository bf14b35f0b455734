"""Export a run's generator as a ``torch.export`` program (.pt2) and check it gives the same outputs.

The program holds the generator's graph and weights, runs without this package
(``torch.export.load(path).module()(x)``), and takes any batch size at the exported image size and
direction. Inputs are N x C x H x W in [-1, 1]; outputs likewise.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from translate.errors import UserError, WrongRunError
from translate.files import atomic_write
from translate.models.base import Translator


class _Direction(nn.Module):
    def __init__(self, model, direction: str):
        super().__init__()
        self.model, self.direction = model, direction

    def forward(self, x):
        return self.model.translate(x, self.direction)


def export_generator(model, out: Path, size: int, direction: str | None = None, trained: str = "AtoB",
                     tolerance: float = 1e-4) -> float:
    """Write ``out`` (.pt2) atomically and return the largest output difference on a random batch."""
    out = Path(out)
    if not isinstance(model, Translator):
        raise WrongRunError(f"{model.name} draws samples and has no image-to-image generator to export", translates=False)
    if out.suffix != ".pt2":
        raise UserError(f"{out}: export writes a torch.export program; name the file *.pt2")
    direction = model.resolve_direction(direction, trained)
    model = model.eval().to("cpu", memory_format=torch.contiguous_format)
    channels = model.info.output_nc if direction == "BtoA" else model.info.input_nc
    example = torch.rand(2, channels, size, size) * 2 - 1
    wrapped = _Direction(model, direction)
    batch = torch.export.Dim("batch", min=1, max=4096)
    with torch.no_grad():
        program = torch.export.export(wrapped, (example,), dynamic_shapes={"x": {0: batch}})
    atomic_write(out, lambda fh: torch.export.save(program, fh))
    check = torch.rand(3, channels, size, size) * 2 - 1
    with torch.no_grad():
        diff = float((torch.export.load(out).module()(check) - wrapped(check)).abs().max())
    if diff > tolerance:
        out.unlink(missing_ok=True)
        raise RuntimeError(f"exported program differs from the model by {diff:.2e} (> {tolerance}); nothing written")
    return diff
