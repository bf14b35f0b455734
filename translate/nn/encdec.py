"""The DiscoGAN networks (Kim et al. 2017), as the authors' code builds them at 64x64.

Generator: an encoder of stride-2 4x4 convs (leaky ReLU 0.2, batch norm after all but the first) down
to a 4x4 bottleneck, and a decoder of stride-2 4x4 transposed convs (ReLU, batch norm) back up, with
no skip connections. Discriminator: the encoder followed by a 4x4 valid conv to one logit per image.
Convolutions carry no bias, as in the authors' code. ``depth`` stride-2 levels: 4 at 64x64 (the
paper), one more per doubling of the size; channels double per level up to 8 * width.
"""

from __future__ import annotations

import math

from torch import nn

from translate.errors import ArgumentError
from translate.nn.layers import Conv2d, ConvTranspose2d, padded_forward, norm_layer


def encdec_depth(size: int) -> int:
    """Stride-2 levels that bring ``size`` down to a 4x4 (or slightly larger) bottleneck."""
    if size < 16:
        raise ArgumentError(f"DiscoGAN needs a {{crop_size}} of at least 16 (got {size}); pass {{crop_size}}=64 (the paper)", "crop_size")
    return int(math.floor(math.log2(size / 4)))


def _widths(nf: int, depth: int) -> list[int]:
    return [nf * min(2**i, 8) for i in range(depth)]


def _encoder(input_nc: int, nf: int, depth: int, norm: str) -> list[nn.Module]:
    make_norm, widths = norm_layer(norm), _widths(nf, depth)
    layers = [Conv2d(input_nc, widths[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
    for prev, c in zip(widths, widths[1:]):
        layers += [Conv2d(prev, c, 4, 2, 1, bias=False), make_norm(c), nn.LeakyReLU(0.2, True)]
    return layers


class EncoderDecoder(nn.Module):
    def __init__(self, input_nc=3, output_nc=3, ngf=64, depth=4, norm="batch"):
        super().__init__()
        make_norm, widths = norm_layer(norm), _widths(ngf, depth)
        layers = _encoder(input_nc, ngf, depth, norm)
        for c, nxt in zip(widths[::-1], widths[::-1][1:]):
            layers += [ConvTranspose2d(c, nxt, 4, 2, 1, bias=False), make_norm(nxt), nn.ReLU(True)]
        layers += [ConvTranspose2d(widths[0], output_nc, 4, 2, 1, bias=False), nn.Tanh()]
        self.depth = depth
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return padded_forward(self.model, x, 2**self.depth)


class EncoderDiscriminator(nn.Module):
    """One logit per image at the training size (a small map, averaged by the loss, at other sizes)."""

    def __init__(self, input_nc=3, ndf=64, depth=4, norm="batch"):
        super().__init__()
        widths = _widths(ndf, depth)
        self.model = nn.Sequential(*_encoder(input_nc, ndf, depth, norm), Conv2d(widths[-1], 1, 4, 1, 0, bias=False))

    def forward(self, x):
        return self.model(x)

    def features(self, x):
        """(logits, the activations after each normalised layer): what the authors' feature matching compares."""
        feats = []
        for i, layer in enumerate(self.model):
            x = layer(x)
            if isinstance(layer, nn.LeakyReLU) and i > 1:
                feats.append(x)
        return x, feats
