"""The MLP pair for 2-D toy data, as in the WGAN-GP toy experiments: ReLU hidden layers, linear output."""

from __future__ import annotations

from torch import Tensor, nn


class MLP(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, hidden: int = 512, depth: int = 3, out_bias: bool = True):
        super().__init__()
        layers: list[nn.Module] = []
        d = in_dim
        for _ in range(depth):
            layers += [nn.Linear(d, hidden), nn.ReLU(True)]
            d = hidden
        layers.append(nn.Linear(d, out_dim, bias=out_bias))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class MLPGenerator(MLP):
    """z (N, nz) -> a point (N, dim)."""


class MLPDiscriminator(MLP):
    """A point (N, dim) -> one score (N,). No output bias: a critic's constant offset gets no gradient
    under the Wasserstein loss (the hidden biases still give a discriminator its offset)."""

    def __init__(self, in_dim: int, hidden: int = 512, depth: int = 3):
        super().__init__(in_dim, 1, hidden, depth, out_bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).flatten()
