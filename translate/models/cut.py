"""CUT and FastCUT (Park et al., "Contrastive Learning for Unpaired Image-to-Image Translation", ECCV 2020):
one generator A -> B, a PatchGAN, and a patchwise contrastive loss (PatchNCE) between the input and its
translation in the generator's own encoder features, through a small projection head F.

Follows the authors' code (taesungp/contrastive-unpaired-translation, models/cut_model.py, networks.py,
patchnce.py) at its defaults: the resnet_9blocks generator (reflection padding, instance norm without affine
parameters, convolutions with biases, no dropout) with anti-aliased down- and up-sampling (blur filters
[1, 2, 1] and [1, 3, 3, 1]; ``antialias=false`` gives stride-2 convs and transposed convs, their
``--no_antialias --no_antialias_up``), the 3-layer PatchGAN with instance norm and anti-aliased
down-sampling, Xavier-normal init with gain 0.02 for G, D and F, LSGAN, D loss halved, no image pool, Adam
2e-4 (0.5, 0.999). PatchNCE on the generator's layers 0, 4, 8, 12, 16 (the padded input, the first two
down-sampling convs, the first and fifth residual blocks): F takes 256 random positions per layer (the same
for every image of the batch and for the query and key features), a Linear(C, 256)-ReLU-Linear(256, 256)
per layer, L2 normalisation; temperature 0.07, negatives from the same image only, the same-position
negative set to -10, the key features detached; each layer's loss times lambda_NCE, the mean over layers.
CUT: lambda_NCE 1 with the identity NCE on G(real_B) (one generator call on cat(real_A, real_B)), the two
NCE losses averaged, 200 + 200 epochs. FastCUT: lambda_NCE 10, no identity NCE, flip equivariance (with
probability 1/2 per iteration the input batch is flipped left-right and the query features flipped back),
150 + 50 epochs. Both: the learning rate decays linearly per epoch (``linear_epochs``, the official
schedule). G step loss: lambda_GAN x GAN + NCE.

Update order as ``optimize_parameters``: the forward, the D step, then G and F together. F is built from the
first batch's feature shapes (``prepare``, the authors' ``data_dependent_initialize``) and trained in group
"G" with the generator: one Adam over G and F, which is the same as the authors' two Adams with the same
settings (Adam is elementwise). F is not an inference network: the saved generator weights, the EMA and
convert use netG alone.

Differences: patch positions and the flip are drawn from torch's random streams (``torch.randperm`` on the
features' device, the flip on the host), not numpy's; the NCE batch is the batch given (the authors reshape
by ``--batch_size``, which fails on a smaller last batch); the loss is computed in fp32 under mixed
precision; with instance norm (or none) the query and key features of all pairs come from one encoder call
(the same numbers as separate calls: each image is normalised on its own; the loss stops the keys'
gradient, as the authors'), with batch norm separate calls, the keys without a graph; one option ``antialias`` sets both the down- and
up-sampling of G and the down-sampling of D (the authors have two flags); the authors' other F variants
(sample, reshape) and generators (U-Net, StyleGAN2) are not offered; ``nce_batch_negatives`` is their
``nce_includes_all_negatives_from_minibatch`` (a shorter name for the command line); the generator pads inputs to a multiple
of 4 at inference so any size translates.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from translate import losses
from translate.config import option
from translate.errors import ArgumentError
from translate.models.base import Translator
from translate.nn.cut import CutGenerator, PatchSampleF, patch_nce
from translate.nn.layers import init_weights
from translate.nn.patchgan import PatchGAN
from translate.nn.resnet import resnet_blocks
from translate.registry import register_model

UNPREPARED = "CUT builds its projection head F from the first batch: call model.prepare(batch) before building optimizers"


def nce_layer_list(text: str) -> tuple[int, ...]:
    try:
        layers = tuple(int(t) for t in str(text).split(","))
    except ValueError:
        layers = ()
    if not layers or any(i < 0 for i in layers) or list(layers) != sorted(set(layers)):
        raise ArgumentError("{nce_layers} must be increasing layer indices such as 0,4,8,12,16, not '{value}'", "nce_layers",
                            value=text)
    return layers


@register_model("cut", task="unpaired")
class CUT(Translator):
    """One-way unpaired translation by patchwise contrastive learning: G (ResNet) and a PatchGAN, GAN + PatchNCE."""

    @dataclass(frozen=True)
    class Config:
        net_g: str = option("resnet_9blocks", "generator: resnet_Nblocks (the authors' resnet_9blocks at every size)")
        antialias: bool = option(True, "anti-aliased resampling in G and D (blur filters; the authors' default); false: "
                                       "stride-2 convs and transposed convs (the authors' no_antialias and no_antialias_up options)")
        ngf: int = 64
        ndf: int = 64
        n_layers_d: int = option(3, "PatchGAN depth")
        norm: str = "instance"
        gan_mode: str = "lsgan"
        lambda_gan: float = option(1.0, "weight of the GAN loss of G")
        lambda_nce: float = option(1.0, "weight of the PatchNCE loss (each layer's)")
        nce_idt: bool = option(True, "the identity PatchNCE loss on G(real_B), averaged with the one on G(real_A)")
        nce_layers: str = option("0,4,8,12,16", "generator layers (indices of its layer list) the PatchNCE loss compares")
        nce_t: float = option(0.07, "temperature of the PatchNCE loss")
        num_patches: int = option(256, "patches sampled per layer")
        netf_nc: int = option(256, "width of the projection head F")
        nce_batch_negatives: bool = option(False, "negatives from every image of the batch (the authors' "
                                                  "setting for single-image training); false: the same image's")
        flip_equivariance: bool = option(False, "flip the input batch left-right with probability 1/2 per iteration and "
                                                "the query features back (FastCUT)")
        lr: float = 2e-4
        beta1: float = 0.5
        beta2: float = 0.999
        init_type: str = option("xavier", "weight init of G, D and F: xavier (the authors' default) | normal")
        init_gain: float = option(0.02, "gain of the init (Xavier gain, or the standard deviation of normal)")

    # the official schedule: 200 epochs, then 200 of linear decay stepped per epoch
    defaults = {"train": {"lr_policy": "linear_epochs", "epochs": 200, "epochs_decay": 200}}
    directions = ("AtoB",)

    def __init__(self, cfg, info):
        super().__init__(cfg, info)
        if cfg.nce_idt and cfg.lambda_nce > 0 and info.input_nc != info.output_nc:
            raise ArgumentError(f"the identity PatchNCE loss needs domains with the same channels (got {info.input_nc} and "
                                f"{info.output_nc}); pass {{nce_idt}}=false", "nce_idt")
        if cfg.num_patches < 1:
            raise ArgumentError("{num_patches} must be at least 1", "num_patches")
        self.nce_layers = nce_layer_list(cfg.nce_layers)
        self.netG = init_weights(CutGenerator(info.input_nc, info.output_nc, cfg.ngf, resnet_blocks(cfg.net_g), cfg.norm, cfg.antialias),
                                 cfg.init_gain, cfg.init_type)
        if self.nce_layers[-1] >= len(self.netG.model):
            raise ArgumentError(f"{{nce_layers}}: the generator has layers 0 to {len(self.netG.model) - 1}, not "
                                f"{self.nce_layers[-1]}", "nce_layers")
        self.netD = init_weights(PatchGAN(info.output_nc, cfg.ndf, cfg.n_layers_d, cfg.norm, antialias=cfg.antialias),
                                 cfg.init_gain, cfg.init_type)
        self.netF = None  # built by prepare()
        self.flipped = False  # whether this iteration's input batch was flipped (flip equivariance)

    @property
    def per_sample(self) -> bool:
        """Whether G treats each image on its own (instance norm or none): then its passes are batched."""
        return self.cfg.norm in ("instance", "none")

    @property
    def identity(self) -> bool:
        return self.cfg.nce_idt and self.cfg.lambda_nce > 0

    def prepare(self, batch):
        """Build F for the channels of the generator's NCE layers, found on the first image of ``batch``,
        on its device (the authors' ``data_dependent_initialize``). Once: a later call keeps F."""
        if self.netF is not None:
            return
        with torch.no_grad():
            feats = self.netG(batch["A"][:1], self.nce_layers, encode_only=True)
        self.netF = init_weights(PatchSampleF([f.shape[1] for f in feats], self.cfg.netf_nc), self.cfg.init_gain,
                                 self.cfg.init_type).to(feats[0].device)

    def param_groups(self):
        if self.netF is None:
            raise RuntimeError(UNPREPARED)
        return {"G": [*self.netG.parameters(), *self.netF.parameters()], "D": list(self.netD.parameters())}

    # -- the recipe ----------------------------------------------------------------------------------
    def fake(self, batch):
        a = batch["A"]
        real = torch.cat([a, batch["B"]]) if self.identity else a
        self.flipped = bool(self.cfg.flip_equivariance and self.training and torch.rand(()) < 0.5)
        if self.flipped:
            real = torch.flip(real, [3])
        out = self.netG(real)
        fakes = {"fake_B": out[: a.shape[0]]}
        if self.identity:
            fakes["idt_B"] = out[a.shape[0]:]
        return fakes

    def translate(self, x, direction="AtoB"):
        if direction not in self.directions:
            raise ValueError(f"CUT translates AtoB only, not {direction!r}")
        return self.netG(x)

    def discriminator_step(self, batch, fakes):
        loss_fake = losses.d_loss(self.netD(fakes["fake_B"]), False, self.cfg.gan_mode)
        loss_real = losses.d_loss(self.netD(batch["B"]), True, self.cfg.gan_mode)
        return {"total": 0.5 * (loss_fake + loss_real), "D_fake": loss_fake, "D_real": loss_real}

    def _features(self, queries, keys):
        """Encoder features of each query image batch (with a graph) and key batch (without: the loss stops
        their gradient), the queries flipped back when the input was flipped."""
        layers = self.nce_layers
        if self.per_sample:  # one call: queries first, then the keys (a graph for all; the keys are detached later)
            n = [q.shape[0] for q in queries]
            feats = self.netG(torch.cat([*queries, *keys]), layers, encode_only=True)
            splits = [f.split(n + n) for f in feats]
            feat_q = [[s[i] for s in splits] for i in range(len(queries))]
            feat_k = [[s[len(queries) + i] for s in splits] for i in range(len(keys))]
        else:  # batch norm: the authors' separate calls, each with its batch's statistics
            feat_q = [self.netG(q, layers, encode_only=True) for q in queries]
            with torch.no_grad():
                feat_k = [self.netG(k, layers, encode_only=True) for k in keys]
        if self.flipped:
            feat_q = [[torch.flip(f, [3]) for f in fq] for fq in feat_q]
        return feat_q, feat_k

    def nce_loss(self, feat_q, feat_k) -> torch.Tensor:
        """The PatchNCE loss of one (query, key) pair of feature lists: per layer, the mean over patches times
        lambda_NCE; then the mean over layers (the authors' ``calculate_NCE_loss``)."""
        if self.netF is None:
            raise RuntimeError(UNPREPARED)
        c = self.cfg
        ids = PatchSampleF.sample_ids(feat_k, c.num_patches)
        pooled_k = self.netF(feat_k, ids)
        pooled_q = self.netF(feat_q, ids)
        n = feat_q[0].shape[0]
        total = sum(patch_nce(q, k, n, c.nce_t, c.nce_batch_negatives).mean() * c.lambda_nce
                    for q, k in zip(pooled_q, pooled_k))
        return total / len(self.nce_layers)

    def generator_step(self, batch, fakes):
        c = self.cfg
        out = {"G_GAN": losses.g_loss(self.netD(fakes["fake_B"]), c.gan_mode) * c.lambda_gan}
        total = out["G_GAN"]
        if c.lambda_nce > 0:
            queries, keys = [fakes["fake_B"]], [batch["A"]]
            if self.identity:
                queries.append(fakes["idt_B"])
                keys.append(batch["B"])
            feat_q, feat_k = self._features(queries, keys)
            out["NCE"] = self.nce_loss(feat_q[0], feat_k[0])
            both = out["NCE"]
            if self.identity:
                out["NCE_Y"] = self.nce_loss(feat_q[1], feat_k[1])
                both = 0.5 * (out["NCE"] + out["NCE_Y"])
            total = total + both
        return {"total": total, **out}

    def visuals(self, batch, fakes):
        cols = {"real_A": batch["A"], "fake_B": fakes["fake_B"], "real_B": batch["B"]}
        if "idt_B" in fakes:
            cols["idt_B"] = fakes["idt_B"]
        if len({t.shape[1] for t in cols.values()}) > 1:  # a grayscale domain: show as RGB
            cols = {k: t.expand(-1, 3, -1, -1) if t.shape[1] == 1 else t for k, t in cols.items()}
        return {k: t.float() for k, t in cols.items()}


@register_model("fastcut", task="unpaired")
class FastCUT(CUT):
    """CUT's faster variant: lambda_NCE 10, no identity NCE, flip equivariance, 150 + 50 epochs."""

    @dataclass(frozen=True)
    class Config(CUT.Config):
        lambda_nce: float = option(10.0, "weight of the PatchNCE loss (each layer's)")
        nce_idt: bool = option(False, "the identity PatchNCE loss on G(real_B), averaged with the one on G(real_A)")
        flip_equivariance: bool = option(True, "flip the input batch left-right with probability 1/2 per iteration and "
                                               "the query features back (FastCUT)")

    defaults = {"train": {"lr_policy": "linear_epochs", "epochs": 150, "epochs_decay": 50}}
