"""GAN (Goodfellow et al., NeurIPS 2014): G(z) against a binary discriminator D(x); the generator's
loss is the non-saturating -log D(G(z)) (the minimax log(1 - D(G(z))) with saturating=True); k
discriminator steps per generator step (--d-steps). DCGAN networks for images, an MLP pair for 2-D data."""

from __future__ import annotations

from dataclasses import dataclass

from translate import losses
from translate.errors import ArgumentError
from translate.nn.dcgan import NORMS
from translate.models.base import Sampler
from translate.nn.generative import Discriminator, Generator, auto_nz
from translate.registry import register_model

# What the image models of this family change from the generic defaults: DCGAN's 64x64 images,
# resized (no crop), batch 64, a constant learning rate, an 8x8 sample grid.
IMAGE_DEFAULTS = {"data": {"load_size": 64, "crop_size": 64},
                  "train": {"batch_size": 64, "lr_policy": "constant", "epochs": 25, "epochs_decay": 0, "num_samples": 64}}


@dataclass(frozen=True)
class NetworkConfig:
    """The options of the networks gan, cgan, wgan and wgan_gp share (subclasses add their losses')."""

    nz: int = 0  # 0: 100 for images (DCGAN), 2 for 2-D toys
    ngf: int = 64
    ndf: int = 64
    hidden: int = 512  # MLP width for 2-D data
    norm: str = "batch"  # DCGAN: batch norm in G (and D, where the model allows it)
    init_gain: float = 0.02


class Unconditional(Sampler):
    """What gan, wgan and wgan_gp share: G(z) and D(x) picked by the data, d_steps critic steps per
    generator step, fakes drawn with z from torch's global generator. Subclasses give the losses."""

    defaults = IMAGE_DEFAULTS
    fresh_noise_for_g = True

    def __init__(self, cfg, info, norm_d: str):
        super().__init__(cfg, info)
        if norm_d not in NORMS:
            raise ArgumentError("{norm_d} must be one of {choices}, not '{value}'", "norm_d", choices=", ".join(NORMS), value=norm_d)
        if cfg.d_steps < 1:
            raise ArgumentError(f"{{d_steps}} must be at least 1, not {cfg.d_steps}", "d_steps")
        self.netG = Generator(info, auto_nz(cfg.nz, info), cfg.ngf, cfg.hidden, cfg.norm, init_gain=cfg.init_gain)
        self.netD = Discriminator(info, cfg.ndf, cfg.hidden, norm_d, init_gain=cfg.init_gain)

    def critic_steps(self, g_step):
        return self.cfg.d_steps

    def fake(self, batch):
        return {"fake": self.netG.sample(batch["image"].shape[0])}

    def sample(self, n, labels=None):
        return self.netG.sample(n)

    def visuals(self, batch, fakes, n_points: int = 1000):
        """The fakes as a grid of images; for 2-D data, ``n_points`` samples over the batch's real points."""
        if fakes["fake"].dim() == 2:
            return {"real": batch["image"], "samples": self.netG.sample(n_points)}
        return {"samples": fakes["fake"]}


@register_model("gan", task="unconditional")
class GAN(Unconditional):
    """Unconditional GAN, non-saturating generator loss (minimax with saturating=True)."""

    @dataclass(frozen=True)
    class Config(NetworkConfig):
        gan_mode: str = "vanilla"  # vanilla (BCE) | lsgan | hinge
        saturating: bool = False  # the minimax generator loss of the paper's analysis
        d_steps: int = 1  # k discriminator steps per generator step
        lr: float = 2e-4
        beta1: float = 0.5
        beta2: float = 0.999

    def __init__(self, cfg, info):
        super().__init__(cfg, info, norm_d=cfg.norm)

    def discriminator_step(self, batch, fakes):
        real = losses.d_loss(self.netD(batch["image"]), True, self.cfg.gan_mode)
        fake = losses.d_loss(self.netD(fakes["fake"]), False, self.cfg.gan_mode)
        return {"total": real + fake, "D_real": real, "D_fake": fake}

    def generator_step(self, batch, fakes):
        adv = losses.g_loss(self.netD(fakes["fake"]), self.cfg.gan_mode, saturating=self.cfg.saturating)
        return {"total": adv, "G_GAN": adv}
