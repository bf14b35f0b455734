"""DiscoGAN (Kim et al., ICML 2017): two encoder-decoder generators without skips, two discriminators.

The paper's objective: G loss = GAN_B + recon_A + GAN_A + recon_B (each generator is trained by its
GAN loss and by reconstructing its own domain through the other generator), non-saturating GAN loss,
MSE reconstruction, Adam 2e-4 (0.5, 0.999) with weight decay 1e-5, batch norm, 64x64 images resized
without cropping or flipping, batch size 64 and a constant learning rate, as in the authors' code.
Differences from the authors' code: no feature-matching loss and no reweighting curriculum (that
code mixes GAN 0.1 + feature matching 0.9 and ramps the reconstruction weight from 0.01 to 0.5); the
reconstruction weight is ``lambda_recon`` (1, as in the paper's equations). Output is tanh in
[-1, 1] (the authors' code: sigmoid on [0, 1] images). Other sizes add one level per doubling.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F

from translate import losses
from translate.errors import ArgumentError
from translate.models.base import OptimSpec, TwoWay
from translate.nn.encdec import EncoderDecoder, EncoderDiscriminator, encdec_depth
from translate.nn.layers import init_weights
from translate.registry import register_model


@register_model("discogan", task="unpaired")
class DiscoGAN(TwoWay):
    """Unpaired translation with reconstruction losses: encoder-decoder G_AB, G_BA and D_A, D_B."""

    @dataclass(frozen=True)
    class Config:
        ngf: int = 64
        ndf: int = 64
        norm: str = "batch"
        gan_mode: str = "vanilla"
        recon: str = "mse"  # mse (paper and authors' code) | l1
        lambda_recon: float = 1.0  # weight of each reconstruction loss
        lr: float = 2e-4
        beta1: float = 0.5
        beta2: float = 0.999
        weight_decay: float = 1e-5  # the authors' code
        init_gain: float = 0.02

    defaults = {"data": {"load_size": 64, "crop_size": 64, "flip": False},
                "train": {"batch_size": 64, "lr_policy": "constant"}}

    def __init__(self, cfg, info):
        super().__init__(cfg, info)
        if cfg.recon not in ("mse", "l1"):
            raise ArgumentError("{recon} must be mse or l1, not '{value}'", "recon", value=cfg.recon)
        depth = encdec_depth(info.size)
        g = lambda i, o: init_weights(EncoderDecoder(i, o, cfg.ngf, depth, cfg.norm), gain=cfg.init_gain)  # noqa: E731
        d = lambda c: init_weights(EncoderDiscriminator(c, cfg.ndf, depth, cfg.norm), gain=cfg.init_gain)  # noqa: E731
        self.netG_AB, self.netG_BA = g(info.input_nc, info.output_nc), g(info.output_nc, info.input_nc)
        self.netD_A, self.netD_B = d(info.input_nc), d(info.output_nc)

    def optimizers(self):
        spec = OptimSpec("adam", self.cfg.lr, (self.cfg.beta1, self.cfg.beta2), weight_decay=self.cfg.weight_decay)
        return {"G": spec, "D": spec}

    def _recon(self, a, b):
        return losses.l1(a, b) if self.cfg.recon == "l1" else F.mse_loss(a.float(), b.float())

    def discriminator_step(self, batch, fakes):
        mode = self.cfg.gan_mode
        d_a = losses.d_loss(self.netD_A(batch["A"]), True, mode) + losses.d_loss(self.netD_A(fakes["fake_A"]), False, mode)
        d_b = losses.d_loss(self.netD_B(batch["B"]), True, mode) + losses.d_loss(self.netD_B(fakes["fake_B"]), False, mode)
        return {"total": d_a + d_b, "D_A": d_a, "D_B": d_b}

    def generator_step(self, batch, fakes):
        c = self.cfg
        out = {"G_AB": losses.g_loss(self.netD_B(fakes["fake_B"]), c.gan_mode),
               "G_BA": losses.g_loss(self.netD_A(fakes["fake_A"]), c.gan_mode),
               "recon_A": self._recon(fakes["rec_A"], batch["A"]),
               "recon_B": self._recon(fakes["rec_B"], batch["B"])}
        total = out["G_AB"] + out["G_BA"] + c.lambda_recon * (out["recon_A"] + out["recon_B"])
        return {"total": total, **out}
