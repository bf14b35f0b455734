"""Generator and discriminator of the generative family (gan, cgan, wgan, wgan_gp), chosen by the data:
DCGAN networks for images (depth from the image size), the MLP pair for vector data (2-D toys).

A label, when the model is conditional (Mirza & Osindero), is a code concatenated at the input: to z
for the generator, to the image as constant feature maps (or to the point) for the discriminator. The
code is the one-hot vector (``embed_dim=0``, the paper) or a learned embedding of ``embed_dim``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from translate.nn.dcgan import DCGANDiscriminator, DCGANGenerator
from translate.nn.layers import init_weights
from translate.nn.mlp import MLPDiscriminator, MLPGenerator
from translate.types import DataInfo


class LabelCode(nn.Module):
    def __init__(self, num_classes: int, embed_dim: int = 0):
        super().__init__()
        self.num_classes = num_classes
        self.embed = nn.Embedding(num_classes, embed_dim) if embed_dim > 0 else None
        self.dim = embed_dim if embed_dim > 0 else num_classes

    def forward(self, labels: Tensor) -> Tensor:
        if labels is None:
            raise ValueError("this model is conditional: pass class labels")
        labels = labels.long()
        if self.embed is not None:
            return self.embed(labels)
        return F.one_hot(labels, self.num_classes).float()


def _code(num_classes: int, embed_dim: int) -> LabelCode | None:
    return LabelCode(num_classes, embed_dim) if num_classes > 0 else None


class Generator(nn.Module):
    """G(z) or G(z, y). ``sample(n)`` draws z ~ N(0, I) from torch's global generator."""

    def __init__(self, info: DataInfo, nz: int, ngf: int = 64, hidden: int = 512, norm: str = "batch",
                 num_classes: int = 0, embed_dim: int = 0, init_gain: float = 0.02):
        super().__init__()
        self.nz = nz
        self.code = _code(num_classes, embed_dim)
        in_dim = nz + (self.code.dim if self.code else 0)
        if info.dim > 0:
            self.body = MLPGenerator(in_dim, info.dim, hidden)  # PyTorch's default init, as the toy code
        else:
            self.body = init_weights(DCGANGenerator(in_dim, info.output_nc, info.size, ngf, norm), gain=init_gain)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.code is not None:
            z = torch.cat([z, self.code(labels).to(z.dtype)], 1)
        return self.body(z)

    def noise(self, n: int) -> Tensor:
        return torch.randn(n, self.nz, device=next(self.parameters()).device)

    def sample(self, n: int, labels: Tensor | None = None) -> Tensor:
        return self(self.noise(n), labels)


class Discriminator(nn.Module):
    """D(x) or D(x, y): one score per sample, shape (N,)."""

    def __init__(self, info: DataInfo, ndf: int = 64, hidden: int = 512, norm: str = "batch",
                 num_classes: int = 0, embed_dim: int = 0, init_gain: float = 0.02, minibatch_kernels: int = 0):
        super().__init__()
        self.code = _code(num_classes, embed_dim)
        extra = self.code.dim if self.code else 0
        if info.dim > 0:
            self.body = MLPDiscriminator(info.dim + extra, hidden, minibatch_kernels=minibatch_kernels)
        else:
            self.body = init_weights(DCGANDiscriminator(info.output_nc + extra, info.size, ndf, norm), gain=init_gain)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.code is not None:
            c = self.code(labels).to(x.dtype)
            if x.dim() == 4:
                c = c[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
                if x.is_contiguous(memory_format=torch.channels_last):
                    c = c.contiguous(memory_format=torch.channels_last)
            x = torch.cat([x, c], 1)
        return self.body(x)

    def features(self, x: Tensor) -> Tensor:
        """An intermediate layer's activations (N, features) of an unconditional D (feature matching)."""
        return self.body.features(x)


def auto_nz(nz: int, info: DataInfo) -> int:
    """nz = 0 means the usual choice: 100 for images (DCGAN), 2 for 2-D toys (WGAN-GP toy code)."""
    return nz if nz > 0 else (2 if info.dim > 0 else 100)
