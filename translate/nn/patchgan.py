"""The PatchGAN discriminator: n_layers=3 gives the 70x70 receptive field of pix2pix and CycleGAN."""

from __future__ import annotations

from torch import nn

from translate.nn.layers import Conv2d, norm_layer, uses_bias


class PatchGAN(nn.Module):
    def __init__(self, input_nc=3, ndf=64, n_layers=3, norm="batch"):
        super().__init__()
        make_norm, bias = norm_layer(norm), uses_bias(norm)
        layers = [Conv2d(input_nc, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < n_layers else 1
            layers += [Conv2d(ndf * prev, ndf * mult, 4, stride, 1, bias=bias), make_norm(ndf * mult),
                       nn.LeakyReLU(0.2, True)]
        layers.append(Conv2d(ndf * mult, 1, 4, 1, 1))
        self.model = nn.Sequential(*layers)

    def describe(self) -> str:
        field = 1  # the receptive field of one output, from the last convolution back to the input
        for conv in reversed([m for m in self.model if isinstance(m, nn.Conv2d)]):
            field = (field - 1) * conv.stride[0] + conv.kernel_size[0]
        return f"{field}x{field} patches"

    def forward(self, x):
        return self.model(x)
