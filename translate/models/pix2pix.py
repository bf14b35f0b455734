"""pix2pix (Isola et al., CVPR 2017): U-Net generator, 70x70 PatchGAN on (input, output) pairs, GAN loss +
100 * L1. The generator, optimiser, schedule and update order follow the paper and the official code: the
discriminator first, then the generator, on the same fakes, as the official ``optimize_parameters``
(models/pix2pix_model.py: forward, D step, G step). The discriminator's normalisation and the GAN loss depart
from it by default, as measured below; ``paper`` restores the paper's batch norm in D and its vanilla GAN loss
(non-saturating for G).

Inference runs as the paper tests, "in exactly the same manner as during the training phase" (mode
"paper", the default, also the official test script's without its eval flag): dropout on (0.5 in the U-Net's
inner decoder blocks, three in unet_256, its masks drawn from a seed) and batch norm with each image's own
statistics, which is what batch norm does in training at batch size 1, kept per image when images are
batched. Mode "eval" (the official test script's eval flag) uses the running statistics and turns dropout
off. Paper mode is the default because it scored better on facades/val (labels -> photo, unet_128 at
128x128, 2000 iterations, 3 seeds, the paper's D and loss): FID 241.6 against eval mode's 247.8 with the moving average below and
its batch-norm statistics recomputed for the averaged weights (better in every seed), 275.6 against 280.1
without it (better in two seeds of three).

Where the defaults depart from the paper, each measured on facades labels -> photo (unet_128 at 128x128, 2000
iterations, FID on the 100 pairs of val/, 3 seeds; docs/quality.md) and undone together by ``paper``:

- the engine keeps an exponential moving average of the generator (ema 0.999, bias-corrected, every 4th step
  with the decay 0.999 ** 4: ema_every), and the saved weights, sample grids and scores are the average: FID
  275.6 -> 245.2, SSIM 0.221 -> 0.261 (paper mode, better in every seed); every 4th step scored as every step
  (241.6 against 241.5); ema 0 trains without it;
- D's convolutions are spectrally normalised (Miyato et al. 2018) in place of its batch norm
  (``spectral_norm``), G's loss adds pix2pixHD's feature matching on D's activations (``lambda_fm`` 10; one
  more D pass on the real pair per G step) and both take the hinge loss (``gan_mode``): FID 241.6 ± 4.1 ->
  234.1 ± 2.4, lower in every seed, SSIM 0.260 -> 0.295, KID 0.224 -> 0.200; 14% more time per iteration
  (one thread). ``spectral_norm`` false, ``lambda_fm`` 0 and ``gan_mode`` vanilla give the paper's D and loss.

With augment=diff (DiffAugment, docs/training.md) D's input pair is translated and cut out as one tensor, so
A and B stay aligned, and only B's channels (real or generated) are recoloured: ``condition_channels``. The
feature matching passes the generated and the real pair through the same random transforms.

``lr_d`` (D's own learning rate, the two time-scale rule) is off by default: D at twice G's rate scored worse."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from translate import losses
from translate.config import option
from translate.models.base import Translator
from translate.nn.layers import forked_rng, init_weights
from translate.nn.patchgan import PatchGAN, spectral_normalise
from translate.nn.unet import UnetGenerator, unet_depth
from translate.registry import register_model


@register_model("pix2pix", task="paired")
class Pix2Pix(Translator):
    """Paired translation: a U-Net generator and a 70x70 PatchGAN on (input, output) pairs, GAN + 100 * L1."""

    @dataclass(frozen=True)
    class Config:
        net_g: str = option("auto", "generator: unet_256 | unet_128 | unet_N; auto: unet_<crop size> rounded to a power of two")
        ngf: int = 64
        ndf: int = 64
        n_layers_d: int = option(3, "PatchGAN depth: 3 gives the 70x70 receptive field")
        norm: str = "batch"
        dropout: bool = True
        gan_mode: str = option("hinge", "vanilla (the paper) | lsgan | hinge | wgan.")
        lambda_l1: float = option(100.0, "weight of the L1 distance to the target in the generator loss")
        lambda_fm: float = option(10.0, "weight of D's feature matching in G's loss (pix2pixHD's 10; the paper: 0)")
        spectral_norm: bool = option(True, "spectral norm on D's convolutions, in place of its batch norm (the paper: "
                                           "false, batch norm)")
        lr: float = 2e-4
        lr_d: float = option(0.0, "D's learning rate (two time-scale rule); 0: lr")
        beta1: float = 0.5
        beta2: float = 0.999
        init_gain: float = 0.02

    defaults = {"train": {"lr_policy": "linear_epochs", "ema": 0.999}}  # the official schedule: per epoch, down to 1/101
    earlier_defaults = {"spectral_norm": False, "lambda_fm": 0.0, "lr_d": 0.0, "gan_mode": "vanilla"}  # runs saved before
    paper_settings = {"model_opts": {"spectral_norm": False, "lambda_fm": 0.0, "gan_mode": "vanilla"}, "train": {"ema": 0.0}}
    inference_mode = "paper"  # each image's own batch-norm statistics and dropout on, as the paper tests

    def __init__(self, cfg, info):
        super().__init__(cfg, info)
        depth = unet_depth(cfg.net_g, info.size)
        self.netG = init_weights(UnetGenerator(info.input_nc, info.output_nc, depth, cfg.ngf, cfg.norm, cfg.dropout),
                                 gain=cfg.init_gain)
        d_norm = "none" if cfg.spectral_norm else cfg.norm  # SN-GAN's discriminator: no normalisation layers
        self.netD = init_weights(PatchGAN(info.input_nc + info.output_nc, cfg.ndf, cfg.n_layers_d, d_norm), gain=cfg.init_gain)
        if cfg.spectral_norm:
            spectral_normalise(self.netD)

    @property
    def condition_channels(self):
        return self.info.input_nc  # D judges cat(A, B): A is the condition

    def fake(self, batch):
        return {"fake_B": self.netG(batch["A"])}

    def discriminator_step(self, batch, fakes):
        real_ab = torch.cat([batch["A"], batch["B"]], 1)
        fake_ab = torch.cat([batch["A"], fakes["fake_B"]], 1)
        real = losses.d_loss(self.netD(real_ab), True, self.cfg.gan_mode)
        fake = losses.d_loss(self.netD(fake_ab), False, self.cfg.gan_mode)
        return {"total": 0.5 * (real + fake), "D_real": real, "D_fake": fake}

    def generator_step(self, batch, fakes):
        fake_ab = torch.cat([batch["A"], fakes["fake_B"]], 1)
        l1 = losses.l1(fakes["fake_B"], batch["B"])
        if not self.cfg.lambda_fm:
            adv = losses.g_loss(self.netD(fake_ab), self.cfg.gan_mode)
            return {"total": adv + self.cfg.lambda_l1 * l1, "G_GAN": adv, "G_L1": l1}
        # pix2pixHD's feature matching (Wang et al. 2018, eq. 4): L1 between D's activations on the fake and the real
        # pair, each of the n_layers + 1 activations weighted 4 / (n_layers + 1), as its code does for one discriminator
        # the two passes draw the same random numbers, so that under augment=diff both pairs get the same transforms
        # and the features compared are those of the same places: the fake pair's pass runs in a fork of the RNG
        # (with spectral norm, each pass takes its own power iteration, as D's step does: one shared normalisation,
        # parametrize.cached(), scored FID 240.9 and 238.7 on facades seeds 0 and 2 against these 234.4 and 236.3)
        with forked_rng(fake_ab.device):
            logits, fake_feats = self.netD.features(fake_ab)
        with torch.no_grad():
            real_feats = self.netD.features(torch.cat([batch["A"], batch["B"]], 1))[1]
        fm = sum(losses.l1(f, r) for f, r in zip(fake_feats, real_feats)) * (4.0 / len(fake_feats))
        adv = losses.g_loss(logits, self.cfg.gan_mode)
        return {"total": adv + self.cfg.lambda_l1 * l1 + self.cfg.lambda_fm * fm, "G_GAN": adv, "G_L1": l1, "G_FM": fm}

    def translate(self, x, direction="AtoB"):
        return self.netG(x)

    def visuals(self, batch, fakes):
        return {"input": batch["A"], "output": fakes["fake_B"], "target": batch["B"]}
