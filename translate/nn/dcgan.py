"""DCGAN networks (Radford et al., 2016) for square images of 16..256 pixels (a power of two).

Generator: z (N, nz) -> ConvTranspose 4x4 stride 1 to a 4x4 map, then stride-2 ConvTranspose blocks
halving the channels up to the image size, tanh. Discriminator: stride-2 convs doubling the channels
(no norm and no bias on the first) down to 4x4, then a 4x4 conv to one score. The critic variant of WGAN-GP is the
same discriminator with ``norm="none"`` (or ``"layer"``). Depth follows the image size:
32 -> 3 up/down blocks, 64 -> 4, 128 -> 5.
"""

from __future__ import annotations

from torch import Tensor, nn

from translate.errors import ArgumentError
from translate.nn.layers import Conv2d, ConvTranspose2d, norm_layer

NORMS = ("batch", "instance", "layer", "none")


def dcgan_blocks(size: int) -> int:
    """The number of stride-2 blocks between a 4x4 map and a ``size`` x ``size`` image."""
    if size < 16 or size > 256 or size & (size - 1):
        raise ArgumentError(f"DCGAN networks need a square image of 16, 32, 64, 128 or 256 pixels (a power of two): "
                            f"{{crop_size}} is {size}", "crop_size")
    return size.bit_length() - 3  # log2(size) - 2


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "layer":  # layer norm over (C, H, W), as the WGAN-GP paper suggests for critics
        return nn.GroupNorm(1, channels)
    if kind not in NORMS:
        raise ArgumentError("{norm} must be one of {choices}, not '{value}'", "norm", choices=", ".join(NORMS), value=kind)
    return norm_layer(kind)(channels)


class DCGANGenerator(nn.Module):
    def __init__(self, nz: int, out_nc: int, size: int, ngf: int = 64, norm: str = "batch"):
        super().__init__()
        n = dcgan_blocks(size)
        mult = 2 ** (n - 1)
        bias = norm != "batch"
        layers: list[nn.Module] = [ConvTranspose2d(nz, ngf * mult, 4, 1, 0, bias=bias), _norm(norm, ngf * mult), nn.ReLU(True)]
        for _ in range(n - 1):
            layers += [ConvTranspose2d(ngf * mult, ngf * mult // 2, 4, 2, 1, bias=bias), _norm(norm, ngf * mult // 2), nn.ReLU(True)]
            mult //= 2
        layers += [ConvTranspose2d(ngf, out_nc, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.nz = nz

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z.reshape(z.shape[0], -1, 1, 1))


class DCGANDiscriminator(nn.Module):
    """Returns one score (logit or critic value) per image, shape (N,)."""

    def __init__(self, in_nc: int, size: int, ndf: int = 64, norm: str = "batch"):
        super().__init__()
        n = dcgan_blocks(size)
        bias = norm != "batch"
        # no bias on the first convolution either, as the DCGAN and WGAN reference discriminators
        layers: list[nn.Module] = [Conv2d(in_nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        ch = ndf
        for _ in range(n - 1):
            layers += [Conv2d(ch, ch * 2, 4, 2, 1, bias=bias), _norm(norm, ch * 2), nn.LeakyReLU(0.2, True)]
            ch *= 2
        layers += [Conv2d(ch, 1, 4, 1, 0, bias=False)]  # as DCGAN; a W-critic's offset gets no gradient
        self.net = nn.Sequential(*layers)

    def features(self, x: Tensor) -> Tensor:
        """The activations before the last convolution, flattened (N, features): what feature matching compares."""
        return self.net[:-1](x).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).flatten()
