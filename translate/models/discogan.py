"""DiscoGAN (Kim et al., ICML 2017): two encoder-decoder generators without skips, two discriminators.

Trained as the authors' code trains it (github.com/SKTBrain/DiscoGAN), which the paper's equations
summarise as G loss = GAN_B + recon_A + GAN_A + recon_B:
- each direction's generator loss is (1 - r) * (0.1 * GAN + 0.9 * feature matching) + r * reconstruction,
  with r = 0.01 for the first ``curriculum`` generator steps (the GAN loss leads) and 0.5 after them;
  feature matching is the squared difference of the batch means of the discriminator's activations
  after each normalised layer, real against fake (``feature_matching=0`` and ``curriculum=0`` give the
  paper's plain sum, halved);
- each discriminator's loss is halved: 0.5 * (real + fake), non-saturating GAN loss;
- the discriminators step on one batch in three and the generators on the other two in the authors'
  code; here one discriminator step comes per ``g_per_d`` = 2 generator steps, the same proportion,
  and a discriminator step shares its batch with the generator step after it (the engine's rule);
- MSE reconstruction, Adam 2e-4 (0.5, 0.999) with weight decay 1e-5, batch norm, 64x64 images resized
  without cropping or flipping, batch size 64 and a constant learning rate.
Update order: the discriminators first. The authors' code updates D on iteration 0 (``iters %
update_interval == 0``) and the generators on the two iterations after it; here the discriminator step
of an iteration comes before the generator step that shares its batch.
The curriculum counts generator steps: 6667 is the authors' 10,000 iterations, two thirds of which are
generator steps. Output is tanh in [-1, 1] (the authors' code: sigmoid on [0, 1] images). Other sizes
add one level per doubling.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from translate import losses
from translate.config import option
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
        recon: str = option("mse", "mse (paper and authors' code) | l1")
        recon_rate: float = option(0.5, "r: weight of the reconstruction against (1 - r) for the adversarial terms")
        recon_rate_start: float = option(0.01, "r during the curriculum (the authors' code)")
        curriculum: int = option(6667, "generator steps with recon_rate_start (the authors' 10,000 iterations)")
        feature_matching: float = option(0.9, "share of feature matching in the adversarial term (authors' code; paper: 0)")
        g_per_d: int = option(2, "generator steps per discriminator step (authors' code: D on 1 batch in 3, G on 2)")
        lr: float = 2e-4
        beta1: float = 0.5
        beta2: float = 0.999
        weight_decay: float = option(1e-5, "Adam weight decay (the authors' code)")
        init_gain: float = 0.02

    defaults = {"data": {"load_size": 64, "crop_size": 64, "flip": False},
                "train": {"batch_size": 64, "lr_policy": "constant"}}

    def __init__(self, cfg, info):
        super().__init__(cfg, info)
        if cfg.recon not in ("mse", "l1"):
            raise ArgumentError("{recon} must be mse or l1, not '{value}'", "recon", value=cfg.recon)
        if cfg.g_per_d < 1:
            raise ArgumentError(f"{{g_per_d}} must be at least 1, not {cfg.g_per_d}", "g_per_d")
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

    def critic_steps(self, g_step):
        return 1 if g_step % self.cfg.g_per_d == 0 else 0

    def discriminator_step(self, batch, fakes):
        mode = self.cfg.gan_mode
        d_a = 0.5 * (losses.d_loss(self.netD_A(batch["A"]), True, mode) + losses.d_loss(self.netD_A(fakes["fake_A"]), False, mode))
        d_b = 0.5 * (losses.d_loss(self.netD_B(batch["B"]), True, mode) + losses.d_loss(self.netD_B(fakes["fake_B"]), False, mode))
        return {"total": d_a + d_b, "D_A": d_a, "D_B": d_b}

    def _adversarial(self, net, real, fake):
        """(GAN loss, feature matching) of a generator whose fakes ``net`` judges against ``real``."""
        logits, fake_feats = net.features(fake)
        gan = losses.g_loss(logits, self.cfg.gan_mode)
        if not self.cfg.feature_matching:
            return gan, None
        with torch.no_grad():
            real_feats = net.features(real)[1]
        fm = sum(((r.float().mean(0) - f.float().mean(0)) ** 2).mean() for r, f in zip(real_feats, fake_feats))
        return gan, fm

    def generator_step(self, batch, fakes):
        c = self.cfg
        rate = c.recon_rate_start if self.g_step < c.curriculum else c.recon_rate
        gan_ab, fm_ab = self._adversarial(self.netD_B, batch["B"], fakes["fake_B"])
        gan_ba, fm_ba = self._adversarial(self.netD_A, batch["A"], fakes["fake_A"])
        out = {"G_AB": gan_ab, "G_BA": gan_ba,
               "recon_A": self._recon(fakes["rec_A"], batch["A"]), "recon_B": self._recon(fakes["rec_B"], batch["B"])}
        adv_ab, adv_ba = gan_ab, gan_ba
        if fm_ab is not None:
            out.update(FM_AB=fm_ab, FM_BA=fm_ba)
            w = c.feature_matching
            adv_ab, adv_ba = (1 - w) * gan_ab + w * fm_ab, (1 - w) * gan_ba + w * fm_ba
        total = (1 - rate) * (adv_ab + adv_ba) + rate * (out["recon_A"] + out["recon_B"])
        return {"total": total, **out}
