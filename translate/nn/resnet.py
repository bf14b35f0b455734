"""The CycleGAN ResNet generator (Johnson et al. 2016 as the official CycleGAN code builds it).

7x7 conv (reflection padded) -> two stride-2 convs -> ``n_blocks`` residual blocks (reflection
padding, two 3x3 convs) -> two up-sampling layers -> 7x7 conv -> tanh. Instance norm without affine
parameters, so convolutions carry biases. ``resnet_9blocks`` with ngf 64 has 11,378,179 parameters,
as in the official code.

``up="transpose"`` (the official code) up-samples with 3x3 stride-2 transposed convs; ``up="resize"``
uses nearest-neighbour up-sampling then a 3x3 conv, which avoids checkerboard artifacts (Odena et
al. 2016) with the same parameter count. Inputs whose sides are not a multiple of 4 are padded and
the output cropped back, so any image size translates.
"""

from __future__ import annotations

from torch import nn

from translate.errors import ArgumentError
from translate.nn.layers import Conv2d, ConvTranspose2d, padded_forward, norm_layer, uses_bias

UPSAMPLING = ("transpose", "resize")


def resnet_blocks(net_g: str) -> int:
    """``resnet_9blocks`` -> 9 (``resnet_N`` also accepted)."""
    try:
        n = int(net_g.split("_", 1)[1].removesuffix("blocks"))
    except (IndexError, ValueError):
        raise ArgumentError("{net_g} must look like resnet_9blocks or resnet_6blocks (resnet_Nblocks), not '{value}'",
                            "net_g", value=net_g) from None
    if n < 1:
        raise ArgumentError("{net_g} {value}: need at least one residual block", "net_g", value=net_g)
    return n


class ResnetBlock(nn.Module):
    def __init__(self, dim: int, norm: str = "instance", dropout: bool = False):
        super().__init__()
        make_norm, bias = norm_layer(norm), uses_bias(norm)
        layers = [nn.ReflectionPad2d(1), Conv2d(dim, dim, 3, bias=bias), make_norm(dim), nn.ReLU(True)]
        if dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), Conv2d(dim, dim, 3, bias=bias), make_norm(dim)]
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.block(x)


class ResnetGenerator(nn.Module):
    n_down = 2

    def __init__(self, input_nc=3, output_nc=3, ngf=64, n_blocks=9, norm="instance", dropout=False, up="transpose"):
        super().__init__()
        if up not in UPSAMPLING:
            raise ArgumentError("{up} must be one of {choices}, not '{value}'", "up", choices=", ".join(UPSAMPLING), value=up)
        self.n_blocks = n_blocks
        make_norm, bias = norm_layer(norm), uses_bias(norm)
        layers = [nn.ReflectionPad2d(3), Conv2d(input_nc, ngf, 7, bias=bias), make_norm(ngf), nn.ReLU(True)]
        for i in range(self.n_down):
            c = ngf * 2**i
            layers += [Conv2d(c, c * 2, 3, stride=2, padding=1, bias=bias), make_norm(c * 2), nn.ReLU(True)]
        c = ngf * 2**self.n_down
        layers += [ResnetBlock(c, norm, dropout) for _ in range(n_blocks)]
        for i in range(self.n_down):
            c = ngf * 2 ** (self.n_down - i)
            if up == "transpose":
                layers.append(ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1, bias=bias))
            else:
                layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.ReflectionPad2d(1), Conv2d(c, c // 2, 3, bias=bias)]
            layers += [make_norm(c // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def describe(self) -> str:
        return f"resnet_{self.n_blocks}blocks"

    def forward(self, x):
        return padded_forward(self.model, x, 2**self.n_down)
