"""Conditional GAN (Mirza & Osindero, 2014): G(z, y) and D(x, y) with the class label y concatenated at
the input of both (one-hot as the paper, or a learned embedding with embed_dim > 0); vanilla GAN loss,
non-saturating for G. Labels come from class sub-folders (--labelled DIR); DCGAN networks for images.
Update order: the discriminator first, then the generator on a fresh z, as the GAN algorithm the paper
conditions (Algorithm 1 of Goodfellow et al.). GAN's stabilisers (label smoothing, feature matching,
instance noise, minibatch discrimination) and the MLP width of 2-D data (``hidden``: labelled data are
images) are not part of this model: passing one is an error."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from translate import losses
from translate.config import option
from translate.errors import ArgumentError
from translate.models.base import Sampler
from translate.models.gan import IMAGE_DEFAULTS, LossConfig
from translate.nn.generative import Discriminator, Generator, auto_nz
from translate.registry import register_model


@register_model("cgan", task="labelled")
class CGAN(Sampler):
    """Conditional GAN: G(z, y), D(x, y), the label concatenated at the input of both."""

    @dataclass(frozen=True)
    class Config(LossConfig):  # GAN's loss and networks, not its stabilisers: an option of those is refused
        embed_dim: int = option(0, "label input: 0: one-hot y (the paper); N: a learned N-dimensional embedding")

    defaults = IMAGE_DEFAULTS
    # GAN's options, which cgan's Config once inherited and ignored: older runs' configs hold these defaults
    retired_options = {"hidden": 512, "feature_matching": False, "minibatch_kernels": 0, "label_smoothing": 0.0,
                       "instance_noise": 0.0, "instance_noise_steps": 10000}
    fresh_noise_for_g = True  # the GAN algorithm, conditioned: a new z for the generator step

    def __init__(self, cfg, info):
        super().__init__(cfg, info)
        if info.num_classes < 1:
            raise ArgumentError("cgan needs class labels: pass {layout=labelled} with one sub-folder per class", "layout=labelled")
        if cfg.d_steps < 1:
            raise ArgumentError(f"{{d_steps}} must be at least 1, not {cfg.d_steps}", "d_steps")
        k, e = info.num_classes, cfg.embed_dim
        self.netG = Generator(info, auto_nz(cfg.nz, info), cfg.ngf, norm=cfg.norm, num_classes=k, embed_dim=e, init_gain=cfg.init_gain)
        self.netD = Discriminator(info, cfg.ndf, norm=cfg.norm, num_classes=k, embed_dim=e, init_gain=cfg.init_gain)

    def critic_steps(self, g_step):
        return self.cfg.d_steps

    def fake(self, batch):
        return {"fake": self.netG.sample(batch["image"].shape[0], batch["label"])}  # fakes of the batch's classes

    def discriminator_step(self, batch, fakes):
        y = batch["label"]
        real = losses.d_loss(self.netD(batch["image"], y), True, self.cfg.gan_mode)
        fake = losses.d_loss(self.netD(fakes["fake"], y), False, self.cfg.gan_mode)
        return {"total": real + fake, "D_real": real, "D_fake": fake}

    def generator_step(self, batch, fakes):
        adv = losses.g_loss(self.netD(fakes["fake"], batch["label"]), self.cfg.gan_mode, saturating=self.cfg.saturating)
        return {"total": adv, "G_GAN": adv}

    def sample(self, n, labels=None):
        if labels is None:  # cycle through the classes
            labels = torch.arange(n, device=next(self.parameters()).device) % self.info.num_classes
        return self.netG.sample(n, labels.to(next(self.parameters()).device))

    def visuals(self, batch, fakes, per_class: int = 8):
        """A column per class; each row shares one z, so a row shows one 'style' across the classes."""
        z = self.netG.noise(per_class)
        out = {}
        for c, name in enumerate(self.info.class_names):
            out[name] = self.netG(z, torch.full((per_class,), c, dtype=torch.long, device=z.device))
        return out
