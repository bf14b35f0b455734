"""Anti-aliased resampling with fixed binomial filters (Zhang, "Making Convolutional Networks Shift-Invariant
Again", ICML 2019), as the CUT code uses them in its generator and discriminator.

``BlurDownsample``: reflection pad 1, then a depthwise 3x3 [1, 2, 1] x [1, 2, 1] / 16 filter at stride 2 (a
side of n gives ceil(n / 2)). ``BlurUpsample``: replication pad 1, a depthwise transposed 4x4 [1, 3, 3, 1] x
[1, 3, 3, 1] / 64 x 4 filter at stride 2, cropped to exactly twice the side. The filters are buffers named
``filt`` (as in the CUT code, so its state dicts load), not parameters: neither layer learns anything.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def binomial_filter(taps: int) -> torch.Tensor:
    """The outer product of the binomial row of ``taps`` taps ([1, 2, 1], [1, 3, 3, 1]) with itself, summing to 1."""
    row = [1.0]
    for _ in range(taps - 1):
        row = [a + b for a, b in zip([0.0] + row, row + [0.0])]
    row = torch.tensor(row)
    grid = row[:, None] * row[None, :]
    return grid / grid.sum()


class BlurDownsample(nn.Module):
    blur_size, stride = 3, 2

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("filt", binomial_filter(self.blur_size)[None, None].repeat(channels, 1, 1, 1))

    def forward(self, x):
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), self.filt.to(x.dtype), stride=self.stride, groups=x.shape[1])


class BlurUpsample(nn.Module):
    blur_size, stride = 4, 2

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("filt", (binomial_filter(self.blur_size) * self.stride**2)[None, None].repeat(channels, 1, 1, 1))

    def forward(self, x):
        y = F.conv_transpose2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), self.filt.to(x.dtype), stride=self.stride,
                               padding=1 + (self.blur_size - 1) // 2, groups=x.shape[1])
        return y[:, :, 1:-1, 1:-1]  # the even filter: one row and column off each side gives 2 x the input side
