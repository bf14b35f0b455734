"""WGAN (Arjovsky et al., ICML 2017): a critic trained on the Wasserstein loss E[D(x)] - E[D(G(z))]
with its weights clipped to [-c, c] (c = 0.01) after every update, RMSProp at 5e-5; the generator
minimises -E[D(G(z))] on a fresh minibatch of z. The critic schedule is the authors' code's: 100 critic
steps before each of the first 25 generator steps and before every 500th, 5 otherwise, so the critic
is near its optimum when the generator starts and is brought back to it now and then
(``critic_schedule="fixed"``: always ``d_steps``). DCGAN-style critic (batch norm, as the official
code), MLP pair for 2-D data.

Update order: the critic first (its n_critic steps), then the generator on a fresh z, as Algorithm 1 of
the paper and the authors' main.py. The clipping follows Algorithm 1 too: the critic's weights are
clipped right after each of its updates (``after_d_step``). The authors' code clips at the top of each
critic iteration, before the update, so its critic steps the generator meets (and its saved weights) may
lie just outside [-c, c]; here the critic is always inside the box."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from translate import losses
from translate.config import option
from translate.errors import ArgumentError
from translate.models.base import OptimSpec
from translate.models.gan import NetworkConfig, Unconditional
from translate.registry import register_model


@register_model("wgan", task="unconditional")
class WGAN(Unconditional):
    """Wasserstein GAN with weight clipping (c = 0.01), RMSProp 5e-5, 100 critic steps early and every 500th G step, else 5."""

    @dataclass(frozen=True)
    class Config(NetworkConfig):
        norm_d: str = option("batch", "critic norm (the official code keeps DCGAN's batch norm)")
        clip: float = option(0.01, "critic weights are clipped to [-clip, clip] after every update")
        d_steps: int = option(5, "critic steps per generator step (n_critic)")
        critic_schedule: str = option("authors", "authors: 100 critic steps for the first 25 G steps and every 500th | fixed: d_steps")
        lr: float = option(5e-5, "learning rate of RMSProp (the paper's alpha)")

    def __init__(self, cfg, info):
        super().__init__(cfg, info, norm_d=cfg.norm_d)
        if cfg.critic_schedule not in ("authors", "fixed"):
            raise ArgumentError("{critic_schedule} must be authors or fixed, not '{value}'", "critic_schedule", value=cfg.critic_schedule)

    def critic_steps(self, g_step):
        if self.cfg.critic_schedule == "authors" and (g_step < 25 or g_step % 500 == 0):
            return 100
        return self.cfg.d_steps

    def optimizers(self):
        spec = OptimSpec("rmsprop", self.cfg.lr)
        return {"G": spec, "D": spec}

    @torch.no_grad()
    def after_d_step(self):
        for p in self.netD.parameters():
            p.clamp_(-self.cfg.clip, self.cfg.clip)

    def discriminator_step(self, batch, fakes):
        real = losses.d_loss(self.netD(batch["image"]), True, "wgan")  # -E[D(x)]
        fake = losses.d_loss(self.netD(fakes["fake"]), False, "wgan")  # E[D(G(z))]
        return {"total": real + fake, "W_dist": -(real + fake)}

    def generator_step(self, batch, fakes):
        adv = losses.g_loss(self.netD(fakes["fake"]), "wgan")
        return {"total": adv, "G_W": adv}
