"""Normalisation and initialisation factories, as the official pix2pix/CycleGAN code defines them."""

from __future__ import annotations

import functools

from torch import nn

from translate.errors import UserError


class Identity(nn.Module):
    def forward(self, x):
        return x


def norm_layer(kind: str):
    """batch: learnable affine + running stats; instance: no affine, no running stats; none."""
    if kind == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if kind == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    if kind == "none":
        return lambda channels: Identity()
    raise UserError(f"--norm must be batch, instance or none, not '{kind}'")


def uses_bias(kind: str) -> bool:
    """Convolutions before batch norm carry no bias (the norm's shift replaces it)."""
    return kind != "batch"


def init_weights(net: nn.Module, kind: str = "normal", gain: float = 0.02) -> nn.Module:
    """Conv/Linear weights N(0, gain) (or xavier/kaiming/orthogonal), biases 0; BatchNorm weights N(1, gain)."""

    def init(m):
        name = m.__class__.__name__
        if hasattr(m, "weight") and m.weight is not None and ("Conv" in name or "Linear" in name):
            if kind == "normal":
                nn.init.normal_(m.weight, 0.0, gain)
            elif kind == "xavier":
                nn.init.xavier_normal_(m.weight, gain=gain)
            elif kind == "kaiming":
                nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            elif kind == "orthogonal":
                nn.init.orthogonal_(m.weight, gain=gain)
            else:
                raise UserError(f"init type must be normal, xavier, kaiming or orthogonal, not '{kind}'")
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif "BatchNorm" in name and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)

    net.apply(init)
    return net


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
