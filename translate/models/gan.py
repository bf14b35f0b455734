"""GAN (Goodfellow et al., NeurIPS 2014): G(z) against a binary discriminator D(x); the generator's
loss is the non-saturating -log D(G(z)) (the minimax log(1 - D(G(z))) with saturating=True); k
discriminator steps per generator step (--d-steps). DCGAN networks for images, an MLP pair for 2-D data.

The stabilisers of the literature are options, all off by default: feature matching and minibatch
discrimination (Salimans et al. 2016), one-sided label smoothing (ibid.), instance noise (Sonderby et al.
2017; Arjovsky & Bottou 2017) and k discriminator steps (Algorithm 1's k). The D step logs the mean
D(x) and D(G(z)) and V(G, D) = E log D(x) + E log(1 - D(G(z))), from which the lab reads the
Jensen-Shannon estimate (V + log 4) / 2.

Update order: the discriminator first (its k steps), then the generator on a fresh minibatch of z, as
Algorithm 1 of the paper."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from translate import losses
from translate.config import option
from translate.errors import ArgumentError
from translate.nn.dcgan import NORMS
from translate.models.base import Sampler
from translate.nn.generative import Discriminator, Generator, auto_nz
from translate.registry import register_model

# What the image models of this family change from the generic defaults: DCGAN's 64x64 images,
# resized (no crop), batch 64, a constant learning rate, an 8x8 sample grid.
IMAGE_DEFAULTS = {"data": {"load_size": 64, "crop_size": 64},
                  "train": {"batch_size": 64, "lr_policy": "constant", "epochs": 25, "epochs_decay": 0, "num_samples": 64}}


def mlp_width():
    """The ``hidden`` option, of the models that train on 2-D data (cgan's labelled images never are)."""
    return option(512, "MLP width for 2-D data")


@dataclass(frozen=True)
class ImageNetworkConfig:
    """The options of the image networks gan, cgan, wgan and wgan_gp share (subclasses add their losses')."""

    nz: int = option(0, "noise dimensions; 0: 100 for images (DCGAN), 2 for 2-D toys")
    ngf: int = 64
    ndf: int = 64
    norm: str = option("batch", "DCGAN: batch norm in G (and D, where the model allows it)")
    init_gain: float = 0.02


@dataclass(frozen=True)
class NetworkConfig(ImageNetworkConfig):
    """The networks of the models that also train on 2-D data: an MLP pair of width ``hidden`` there."""

    hidden: int = mlp_width()


class Unconditional(Sampler):
    """What gan, wgan and wgan_gp share: G(z) and D(x) picked by the data, d_steps critic steps per
    generator step, fakes drawn with z from torch's global generator. Subclasses give the losses."""

    defaults = IMAGE_DEFAULTS
    fresh_noise_for_g = True

    def __init__(self, cfg, info, norm_d: str, minibatch_kernels: int = 0):
        super().__init__(cfg, info)
        if norm_d not in NORMS:
            raise ArgumentError("{norm_d} must be one of {choices}, not '{value}'", "norm_d", choices=", ".join(NORMS), value=norm_d)
        if cfg.d_steps < 1:
            raise ArgumentError(f"{{d_steps}} must be at least 1, not {cfg.d_steps}", "d_steps")
        self.netG = Generator(info, auto_nz(cfg.nz, info), cfg.ngf, cfg.hidden, cfg.norm, init_gain=cfg.init_gain)
        self.netD = Discriminator(info, cfg.ndf, cfg.hidden, norm_d, init_gain=cfg.init_gain, minibatch_kernels=minibatch_kernels)

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


@dataclass(frozen=True)
class LossConfig(ImageNetworkConfig):
    """The options of the GAN algorithm itself, which gan and cgan share (cgan has none of gan's stabilisers)."""

    gan_mode: str = option("vanilla", "vanilla (BCE) | lsgan | hinge")
    saturating: bool = option(False, "the minimax generator loss of the paper's analysis")
    d_steps: int = option(1, "k discriminator steps per generator step")
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999


@register_model("gan", task="unconditional")
class GAN(Unconditional):
    """Unconditional GAN, non-saturating generator loss (minimax with saturating=True)."""

    @dataclass(frozen=True)
    class Config(LossConfig):
        hidden: int = mlp_width()
        # stabilisers (all off by default)
        feature_matching: bool = option(False, "Salimans et al.: G's loss is ||E f(x) - E f(G(z))||^2 of D's last hidden features")
        minibatch_kernels: int = option(0, "Salimans et al.: B kernels (of 5 dims) of minibatch discrimination in D (MLP D, 2-D data)")
        label_smoothing: float = option(0.0, "one-sided: D's real target is 1 - label_smoothing (Salimans et al.: 0.1 -> 0.9)")
        instance_noise: float = option(0.0, "std of Gaussian noise on D's inputs (real and fake), annealed linearly to 0 over instance_noise_steps")
        instance_noise_steps: int = option(10000, "generator steps over which instance_noise anneals to 0")

    def __init__(self, cfg, info):
        if cfg.minibatch_kernels < 0 or (cfg.minibatch_kernels and info.dim == 0):
            raise ArgumentError("{minibatch_kernels} is for the MLP discriminator of 2-D data: 0 or a positive count", "minibatch_kernels")
        if not 0.0 <= cfg.label_smoothing < 1.0:
            raise ArgumentError(f"{{label_smoothing}} must be in [0, 1), not {cfg.label_smoothing}", "label_smoothing")
        if cfg.instance_noise < 0 or cfg.instance_noise_steps < 1:
            raise ArgumentError("{instance_noise} must be >= 0 and {instance_noise_steps} >= 1", "instance_noise")
        super().__init__(cfg, info, norm_d=cfg.norm, minibatch_kernels=cfg.minibatch_kernels)

    def noise_std(self) -> float:
        """The instance noise's std at the current generator step: linear from ``instance_noise`` to 0."""
        left = 1.0 - self.g_step / self.cfg.instance_noise_steps
        return self.cfg.instance_noise * max(0.0, left)

    def _seen(self, x):
        """What D sees: ``x`` plus the annealed instance noise (none when it is off or has reached 0)."""
        std = self.noise_std()
        return x + std * torch.randn_like(x) if std > 0 else x

    def discriminator_step(self, batch, fakes):
        mode = self.cfg.gan_mode
        pred_real, pred_fake = self.netD(self._seen(batch["image"])), self.netD(self._seen(fakes["fake"]))
        real = losses.d_loss(pred_real, True, mode, smooth=self.cfg.label_smoothing)
        fake = losses.d_loss(pred_fake, False, mode)
        out = {"total": real + fake, "D_real": real, "D_fake": fake}
        if mode == "vanilla":  # the value function of the paper, whatever the targets: E log D(x) + E log(1 - D(G(z)))
            with torch.no_grad():
                pr, pf = pred_real.detach().float(), pred_fake.detach().float()
                out.update({"V": (F.logsigmoid(pr).mean() + F.logsigmoid(-pf).mean()),
                            "D_real_prob": torch.sigmoid(pr).mean(), "D_fake_prob": torch.sigmoid(pf).mean()})
        return out

    def generator_step(self, batch, fakes):
        if self.cfg.feature_matching:  # D is frozen here: the real features are a fixed target
            with torch.no_grad():
                target = self.netD.features(self._seen(batch["image"])).float().mean(0)
            fm = (self.netD.features(self._seen(fakes["fake"])).float().mean(0) - target).pow(2).sum()
            return {"total": fm, "G_FM": fm}
        adv = losses.g_loss(self.netD(self._seen(fakes["fake"])), self.cfg.gan_mode, saturating=self.cfg.saturating)
        return {"total": adv, "G_GAN": adv}
