"""The pix2pix U-Net generator (Isola et al. 2017), built as the official code builds it.

``unet_N`` has log2(N) down-sampling levels, so an N x N input reaches a 1 x 1 bottleneck. The
innermost block has no normalisation (so batch size 1 works), and dropout 0.5 sits in the
``depth - 5`` blocks next to it (3 for unet_256, 2 for unet_128), exactly where the official code
places it. Inputs whose sides are not a multiple of 2**depth are padded and the output cropped back,
so any image size translates.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from translate.errors import ArgumentError
from translate.nn.layers import Conv2d, ConvTranspose2d, padded_forward, norm_layer, uses_bias


def unet_depth(net_g: str, size: int) -> int:
    """Levels of ``unet_N`` (log2 N); ``auto``: the U-Net whose bottleneck is 1x1 for ``size`` x ``size``
    crops, i.e. unet_<size rounded up to a power of two>, at least unet_32."""
    if net_g == "auto":
        net_g = f"unet_{max(32, 1 << max(0, size - 1).bit_length())}"
    try:
        n = int(net_g.split("_", 1)[1])
    except (IndexError, ValueError):
        raise ArgumentError("{net_g} must look like unet_256 or unet_128 (unet_N, N a power of two), not '{value}'",
                            "net_g", value=net_g) from None
    depth = int(round(math.log2(n))) if n > 0 else 0
    if n < 32 or 2**depth != n:
        raise ArgumentError("{net_g} {value}: N must be a power of two >= 32 (e.g. unet_256, unet_128, unet_32)", "net_g", value=net_g)
    return depth


class UnetBlock(nn.Module):
    """down -> [submodule] -> up, with the input concatenated to the output (except outermost)."""

    def __init__(self, outer_nc, inner_nc, input_nc=None, submodule=None, outermost=False, innermost=False,
                 norm="batch", dropout=False):
        super().__init__()
        self.outermost = outermost
        make_norm, bias = norm_layer(norm), uses_bias(norm)
        input_nc = outer_nc if input_nc is None else input_nc
        downconv = Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=bias)
        downrelu, uprelu = nn.LeakyReLU(0.2, True), nn.ReLU(True)
        if outermost:
            upconv = ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1)
            layers = [downconv, submodule, uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = ConvTranspose2d(inner_nc, outer_nc, kernel_size=4, stride=2, padding=1, bias=bias)
            layers = [downrelu, downconv, uprelu, upconv, make_norm(outer_nc)]
        else:
            upconv = ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1, bias=bias)
            layers = [downrelu, downconv, make_norm(inner_nc), submodule, uprelu, upconv, make_norm(outer_nc)]
            if dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    def __init__(self, input_nc=3, output_nc=3, depth=8, ngf=64, norm="batch", dropout=True):
        super().__init__()
        if depth < 5:
            raise ValueError(f"a U-Net needs at least 5 levels (unet_32), got {depth}")
        self.depth = depth
        block = UnetBlock(ngf * 8, ngf * 8, innermost=True, norm=norm)
        for _ in range(depth - 5):
            block = UnetBlock(ngf * 8, ngf * 8, submodule=block, norm=norm, dropout=dropout)
        block = UnetBlock(ngf * 4, ngf * 8, submodule=block, norm=norm)
        block = UnetBlock(ngf * 2, ngf * 4, submodule=block, norm=norm)
        block = UnetBlock(ngf, ngf * 2, submodule=block, norm=norm)
        self.model = UnetBlock(output_nc, ngf, input_nc=input_nc, submodule=block, outermost=True, norm=norm)

    def describe(self) -> str:
        return f"unet_{2**self.depth} ({self.depth} levels)"

    def forward(self, x):
        return padded_forward(self.model, x, 2**self.depth)
