"""The MLP pair for 2-D toy data, as in the WGAN-GP toy experiments: ReLU hidden layers, linear output."""

from __future__ import annotations

import torch
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


class MinibatchDiscrimination(nn.Module):
    """Salimans et al. 2016, section 3.2: features f (N, A) times a tensor T give M (N, B, C); for each of
    the B kernels, o_b(x_i) = sum over the other samples j of exp(-||M_i,b - M_j,b||_1); returns cat(f, o),
    so the score of one sample depends on the rest of its batch (a collapsed batch is easy to spot)."""

    def __init__(self, in_features: int, kernels: int, kernel_dim: int = 5):
        super().__init__()
        self.kernels, self.kernel_dim = kernels, kernel_dim
        self.T = nn.Parameter(torch.randn(in_features, kernels * kernel_dim) * 0.1)

    def forward(self, f: Tensor) -> Tensor:
        m = (f @ self.T).view(f.shape[0], self.kernels, self.kernel_dim)
        l1 = (m[:, None] - m[None]).abs().sum(-1)  # (N, N, B)
        o = torch.exp(-l1).sum(1) - 1.0  # without the sample itself (exp(0) = 1)
        return torch.cat([f, o], 1)


class MLPDiscriminator(MLP):
    """A point (N, dim) -> one score (N,). No output bias: a critic's constant offset gets no gradient
    under the Wasserstein loss (the hidden biases still give a discriminator its offset).
    ``minibatch_kernels`` > 0 puts a minibatch-discrimination layer before the output layer."""

    def __init__(self, in_dim: int, hidden: int = 512, depth: int = 3, minibatch_kernels: int = 0):
        super().__init__(in_dim, 1, hidden, depth, out_bias=False)
        self.minibatch = MinibatchDiscrimination(hidden, minibatch_kernels) if minibatch_kernels > 0 else None
        if self.minibatch is not None:
            self.net[-1] = nn.Linear(hidden + minibatch_kernels, 1, bias=False)

    def features(self, x: Tensor) -> Tensor:
        """The last hidden layer's activations (N, hidden): what feature matching compares."""
        return self.net[:-1](x)

    def forward(self, x: Tensor) -> Tensor:
        f = self.features(x)
        if self.minibatch is not None:
            f = self.minibatch(f)
        return self.net[-1](f).flatten()
