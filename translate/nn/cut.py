"""CUT's networks (Park et al., ECCV 2020): the ResNet generator with a feature path, the patch-sampling
projection head F and the PatchNCE loss, as the authors' code (taesungp/contrastive-unpaired-translation)
defines them.

``CutGenerator`` is the CycleGAN ResNet generator as one flat ``nn.Sequential`` (the layer indices that the
NCE layers 0,4,8,12,16 name are those of the authors' list): with ``antialias`` (their default) each
down-sampling is conv 3x3 stride 1 + norm + ReLU + ``BlurDownsample`` and each up-sampling ``BlurUpsample`` +
conv 3x3 + norm + ReLU; without, stride-2 convs and transposed convs (their ``--no_antialias
--no_antialias_up``), with the same parameters. ``net(x, layers, encode_only=True)`` returns the outputs of
those layers and stops at the last.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from translate.nn.blur import BlurDownsample, BlurUpsample
from translate.nn.layers import Conv2d, ConvTranspose2d, norm_layer, padded_forward, uses_bias
from translate.nn.resnet import ResnetBlock


class CutGenerator(nn.Module):
    n_down = 2

    def __init__(self, input_nc=3, output_nc=3, ngf=64, n_blocks=9, norm="instance", antialias=True):
        super().__init__()
        self.n_blocks, self.antialias = n_blocks, antialias
        make_norm, bias = norm_layer(norm), uses_bias(norm)
        layers = [nn.ReflectionPad2d(3), Conv2d(input_nc, ngf, 7, bias=bias), make_norm(ngf), nn.ReLU(True)]
        for i in range(self.n_down):
            c = ngf * 2**i
            layers += [Conv2d(c, c * 2, 3, stride=1 if antialias else 2, padding=1, bias=bias), make_norm(c * 2), nn.ReLU(True)]
            layers += [BlurDownsample(c * 2)] if antialias else []
        c = ngf * 2**self.n_down
        layers += [ResnetBlock(c, norm) for _ in range(n_blocks)]
        for i in range(self.n_down):
            c = ngf * 2 ** (self.n_down - i)
            if antialias:
                layers += [BlurUpsample(c), Conv2d(c, c // 2, 3, padding=1, bias=bias)]
            else:
                layers.append(ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1, bias=bias))
            layers += [make_norm(c // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def describe(self) -> str:
        return f"resnet_{self.n_blocks}blocks, {'anti-aliased' if self.antialias else 'strided'} resampling"

    def forward(self, x: Tensor, layers: Sequence[int] | None = None, encode_only: bool = False):
        """The translation of ``x`` (any size: padded to a multiple of 4 and cropped back); with ``layers``,
        the outputs of those layer indices too (``(out, feats)``), or with ``encode_only`` those alone,
        computed no further than the last of them (the input is taken as it is)."""
        if not layers:
            return padded_forward(self.model, x, 2**self.n_down)
        wanted, last, feats = set(layers), max(layers), []
        for i, layer in enumerate(self.model):
            x = layer(x)
            if i in wanted:
                feats.append(x)
            if encode_only and i == last:
                return feats
        return x, feats


class PatchSampleF(nn.Module):
    """The projection head F (the authors' ``PatchSampleF`` with ``mlp_sample``): per feature layer a
    Linear(C, nc)-ReLU-Linear(nc, nc) applied to the features at the sampled positions, then L2-normalised
    (x / (|x| + 1e-7)). Built for the channels of the features it will see (``channels``)."""

    def __init__(self, channels: Sequence[int], nc: int = 256):
        super().__init__()
        self.channels = tuple(channels)
        for i, c in enumerate(self.channels):  # mlp_0, mlp_1, ...: the authors' names
            self.add_module(f"mlp_{i}", nn.Sequential(nn.Linear(c, nc), nn.ReLU(), nn.Linear(nc, nc)))

    @staticmethod
    def sample_ids(feats: Sequence[Tensor], num_patches: int) -> list[Tensor]:
        """Random positions per layer (``num_patches`` of them, or all of a smaller map, in random order),
        drawn with ``torch.randperm`` on the features' device; the same for every image of the batch."""
        return [torch.randperm(f.shape[2] * f.shape[3], device=f.device)[:num_patches] for f in feats]

    def forward(self, feats: Sequence[Tensor], ids: Sequence[Tensor]) -> list[Tensor]:
        """(N x patches, nc) per layer: image by image, the patches in the order of ``ids``."""
        out = []
        for i, (feat, idx) in enumerate(zip(feats, ids)):
            x = feat.permute(0, 2, 3, 1).flatten(1, 2)[:, idx].flatten(0, 1)
            x = getattr(self, f"mlp_{i}")(x)
            out.append(x / (x.norm(p=2, dim=1, keepdim=True) + 1e-7))
        return out


def patch_nce(q: Tensor, k: Tensor, batch: int, temperature: float = 0.07, all_negatives: bool = False) -> Tensor:
    """PatchNCE loss per query patch (``q``, ``k``: (batch x patches, C), unit rows; ``k`` detached): the
    cross-entropy of picking each query's own key (positive logit q.k) among the other patches' keys of
    the same image (negatives; with ``all_negatives`` those of every image of the batch), all over
    ``temperature``, with the same-position entry of the negatives set to -10 (it is the positive again)."""
    k = k.detach()
    wide = torch.promote_types(q.dtype, torch.float32)  # fp32 at least, under mixed precision too
    q, k = q.to(wide), k.to(wide)
    pos = (q * k).sum(dim=1, keepdim=True)
    groups = 1 if all_negatives else batch
    qg, kg = q.reshape(groups, -1, q.shape[1]), k.reshape(groups, -1, k.shape[1])
    neg = torch.bmm(qg, kg.transpose(1, 2))
    eye = torch.eye(neg.shape[1], dtype=torch.bool, device=q.device)[None]
    neg = neg.masked_fill(eye, -10.0).reshape(-1, neg.shape[1])
    logits = torch.cat([pos, neg], dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros(logits.shape[0], dtype=torch.long, device=q.device), reduction="none")
