"""WGAN-GP (Gulrajani et al., NeurIPS 2017): the Wasserstein critic loss plus lambda = 10 times the
gradient penalty (||grad D(x_hat)|| - 1)^2 on random interpolates of real and fake, five critic
steps per generator step, Adam(1e-4, betas (0, 0.9)); no batch norm in the critic (``norm_d=layer``
is the paper's alternative). DCGAN-style networks for images, MLP pair for 2-D data.
Update order: the critic first (its five steps), then the generator on a fresh z, as Algorithm 1 of the
paper (the authors' code takes the generator step at the top of each iteration after the first, then the
critic's steps: the same sequence)."""

from __future__ import annotations

from dataclasses import dataclass

from translate import losses
from translate.config import option
from translate.errors import ArgumentError
from translate.models.base import OptimSpec
from translate.models.gan import NetworkConfig, Unconditional
from translate.registry import register_model


@register_model("wgan_gp", task="unconditional")
class WGANGP(Unconditional):
    """Wasserstein GAN with gradient penalty (lambda 10), Adam(1e-4, 0, 0.9), 5 critic steps per G step."""

    @dataclass(frozen=True)
    class Config(NetworkConfig):
        norm_d: str = option("none", "critic: no batch norm (the penalty is per sample); none | layer")
        lambda_gp: float = option(10.0, "weight of the gradient penalty")
        d_steps: int = 5
        lr: float = 1e-4
        beta1: float = 0.0
        beta2: float = 0.9

    def __init__(self, cfg, info):
        super().__init__(cfg, info, norm_d=cfg.norm_d)
        if cfg.norm_d == "batch":
            raise ArgumentError("wgan_gp: batch norm in the critic breaks the per-sample gradient penalty; "
                                "pass {norm_d}=none or {norm_d}=layer", "norm_d")

    def optimizers(self):
        spec = OptimSpec("adam", self.cfg.lr, (self.cfg.beta1, self.cfg.beta2))
        return {"G": spec, "D": spec}

    def discriminator_step(self, batch, fakes):
        real = losses.d_loss(self.netD(batch["image"]), True, "wgan")
        fake = losses.d_loss(self.netD(fakes["fake"]), False, "wgan")
        gp = losses.gradient_penalty(self.netD, batch["image"], fakes["fake"], weight=self.cfg.lambda_gp)
        return {"total": real + fake + gp, "W_dist": -(real + fake), "GP": gp}

    def generator_step(self, batch, fakes):
        adv = losses.g_loss(self.netD(fakes["fake"]), "wgan")
        return {"total": adv, "G_W": adv}
