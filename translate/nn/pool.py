"""The image history pool of Shrivastava et al. 2017, as the CycleGAN code uses it for its discriminators.

Until the pool holds ``size`` images every generated image is stored and returned; afterwards each
image is, with probability 1/2, swapped for a random stored one (which is returned instead), else
returned as it is. Draws come from torch's global RNG (checkpointed by the engine), and the stored
images are the module's extra state, so they travel in ``state_dict()`` and a resumed run continues
with exactly the pool it stopped with.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class HistoryPool(nn.Module):
    def __init__(self, size: int = 50):
        super().__init__()
        if size < 0:
            raise ValueError(f"pool size must be >= 0, not {size}")
        self.size = size
        self.images: list[Tensor] = []  # each (1, C, H, W), detached, float32

    def __len__(self) -> int:
        return len(self.images)

    @torch.no_grad()
    def forward(self, images: Tensor) -> Tensor:
        if self.size == 0:
            return images
        out = []
        for img in images.detach().split(1):
            if len(self.images) < self.size:
                self.images.append(img.float().clone())
                out.append(img)
            elif float(torch.rand(())) > 0.5:
                i = int(torch.randint(0, self.size, ()))
                old = self.images[i]
                self.images[i] = img.float().clone()
                out.append(old.to(img.device, img.dtype))
            else:
                out.append(img)
        return torch.cat(out)

    def get_extra_state(self) -> dict:
        stacked = torch.cat(self.images) if self.images else torch.empty(0)
        return {"images": stacked.contiguous()}

    def set_extra_state(self, state: dict) -> None:
        images = state["images"]
        self.images = [t.float().clone() for t in images.split(1)] if images.numel() else []

    def _apply(self, fn, recurse=True):  # follow .to(device) like a buffer would
        self.images = [fn(t) if t.is_floating_point() else t for t in self.images]
        return super()._apply(fn, recurse)

    def extra_repr(self) -> str:
        return f"size={self.size}"
