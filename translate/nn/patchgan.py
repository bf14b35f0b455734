"""The PatchGAN discriminator: n_layers=3 gives the 70x70 receptive field of pix2pix and CycleGAN.

``antialias=True`` is the CUT code's default variant: each stride-2 convolution becomes a stride-1
convolution followed by a fixed [1, 2, 1] blur and stride-2 subsampling (``translate.nn.blur.BlurDownsample``,
Zhang 2019), with the same parameters.

``spectral_normalise`` (Miyato et al., ICLR 2018) divides every convolution's weight by its largest singular value
(one power iteration per training forward pass); SN-GAN's discriminator pairs it with ``norm="none"``. Call it once
the weights are initialised."""

from __future__ import annotations

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from translate.nn.blur import BlurDownsample
from translate.nn.layers import Conv2d, norm_layer, uses_bias


class PatchGAN(nn.Module):
    def __init__(self, input_nc=3, ndf=64, n_layers=3, norm="batch", antialias=False):
        super().__init__()
        make_norm, bias = norm_layer(norm), uses_bias(norm)
        first = 1 if antialias else 2
        layers = [Conv2d(input_nc, ndf, 4, first, 1), nn.LeakyReLU(0.2, True)] + ([BlurDownsample(ndf)] if antialias else [])
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            down = n < n_layers
            layers += [Conv2d(ndf * prev, ndf * mult, 4, 2 if down and not antialias else 1, 1, bias=bias), make_norm(ndf * mult),
                       nn.LeakyReLU(0.2, True)]
            if down and antialias:
                layers.append(BlurDownsample(ndf * mult))
        layers.append(Conv2d(ndf * mult, 1, 4, 1, 1))
        self.model = nn.Sequential(*layers)

    def describe(self) -> str:
        field = 1  # the receptive field of one output, from the last convolution back to the input
        for m in reversed(self.model):
            if isinstance(m, nn.Conv2d):
                field = (field - 1) * m.stride[0] + m.kernel_size[0]
            elif hasattr(m, "blur_size"):  # a blur-then-subsample layer
                field = (field - 1) * m.stride + m.blur_size
        return f"{field}x{field} patches"

    def forward(self, x):
        return self.model(x)

    def features(self, x):
        """(the patch logits, the activations after each LeakyReLU): what feature matching compares."""
        feats = []
        for layer in self.model:
            x = layer(x)
            if isinstance(layer, nn.LeakyReLU):
                feats.append(x)
        return x, feats


def spectral_normalise(net: nn.Module) -> nn.Module:
    """Every convolution of ``net`` spectrally normalised (its weight divided by its largest singular value, estimated by
    power iteration from the weight as it is now: call it after initialising the weights)."""
    for m in list(net.modules()):
        if isinstance(m, nn.Conv2d):
            spectral_norm(m)
    return net
