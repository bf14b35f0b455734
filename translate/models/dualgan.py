"""DualGAN (Yi et al., ICCV 2017): two U-Net generators, two Wasserstein critics, recovery L1 both ways.

Generator loss: lambda * (|A - G_BA(G_AB(A))| + |B - G_AB(G_BA(B))|) - D_B(G_AB(A)) - D_A(G_BA(B)).
Update order: the critics first, then the generators, as the authors' code (``run_optim`` runs the critics'
optimizer, then the generators') and the WGAN algorithm it follows. Two critic regimes (``regime``):

- ``clip`` (the paper, default): weights clipped to [-c, c] after every critic step (c = 0.01; the paper
  uses 0.01 to 0.1), RMSProp at lr 5e-5 for critics and generators, 2 critic steps per generator step
  (``d_steps``; the paper: 2 to 4), batch norm.
- ``gp``: the gradient penalty of Gulrajani et al. (weight 10) instead of clipping, Adam (lr, beta1
  0.5, beta2 0.9), and no normalisation in the critics (batch norm breaks the per-sample penalty).

This follows the paper. Its generators are the pix2pix U-Net (4x4 kernels, batch norm, dropout in the
inner decoder blocks) and its critics the 70x70 PatchGAN; ``lambda_l1`` is 500, inside the paper's range
of 100 to 1000 (and the authors' code's current default). RMSProp's decay is 0.9, as the authors'
TensorFlow code (the paper names RMSProp without its settings; torch's default would be 0.99).

Inference runs in mode "paper" by default: each image normalised with its own statistics and dropout on,
as the generators train at batch size 1 and as the authors' code tests (per-image normalisation); mode
"eval" uses batch norm's running statistics and no dropout. Paper mode is the default because it scored
better on facades (labels <-> photos as unpaired domains, 64x64, 400 iterations, FID on the 100 held-out
images of each domain) in every seed of three and both directions: photos -> labels 344.6 against
358.6 (mean), labels -> photos 375.6 against 380.6.

Where the authors' code (github.com/duxingren14/DualGAN) differs, and why we keep the paper:
- its generators use 3x3 kernels with 5x5 at the first and last layer, and its critic a 5x5 first layer
  and, by default, a fully connected last layer (a global critic, not a PatchGAN): the paper describes
  the pix2pix U-Net and the PatchGAN, which the other translation models here share;
- its normalisation takes each image's own statistics in training and at test time (instance norm with
  a learned scale and offset): at batch size 1 our batch norm trains with exactly those statistics, and
  ``mode="paper"`` at inference uses them too (eval mode uses the running averages instead);
- its current defaults are the gradient penalty with 1 critic step and no dropout (its first release:
  clipping with 3 critic steps, lambda 200): the paper's clipping and 2 critic steps are the default here,
  the penalty is ``regime="gp"``;
- one lambda serves both directions (the authors' code has lambda_A and lambda_B, equal by default);
- the learning rate stays constant, as in the authors' code.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from translate import losses
from translate.config import option
from translate.errors import ArgumentError
from translate.models.base import OptimSpec, TwoWay
from translate.nn.layers import init_weights
from translate.nn.patchgan import PatchGAN
from translate.nn.unet import UnetGenerator, unet_depth
from translate.registry import register_model

REGIMES = ("clip", "gp")


@register_model("dualgan", task="unpaired")
class DualGAN(TwoWay):
    """Unpaired translation with Wasserstein critics: U-Net G_AB, G_BA and critics D_A, D_B."""

    inference_mode = "paper"  # per-image statistics and dropout, as it trains and as the authors' code tests

    @dataclass(frozen=True)
    class Config:
        regime: str = option("clip", "critic regime: clip (paper: weight clipping, RMSProp) | gp (gradient penalty, Adam)")
        net_g: str = option("auto", "generator: unet_N; auto: unet_<crop size> rounded up to a power of two")
        ngf: int = 64
        ndf: int = 64
        n_layers_d: int = option(3, "PatchGAN critic depth: 3 gives the 70x70 receptive field")
        norm: str = option("batch", "normalisation (batch | instance | none) of the generators; the critics use it in the clip regime and none in the gp regime")
        dropout: bool = True
        d_steps: int = option(2, "critic steps per generator step (paper: n_critic 2 to 4)")
        clip_value: float = option(0.01, "clip regime: critic weights in [-c, c]")
        lambda_gp: float = option(10.0, "gp regime: gradient-penalty weight")
        lambda_l1: float = option(500.0, "recovery L1 weight, each direction (paper: 100 to 1000)")
        lr: float = 5e-5
        beta1: float = option(0.5, "Adam beta1, gp regime only")
        beta2: float = option(0.9, "Adam beta2, gp regime only")
        init_gain: float = 0.02

    defaults = {"train": {"lr_policy": "constant"}}

    def __init__(self, cfg, info):
        super().__init__(cfg, info)
        if cfg.regime not in REGIMES:
            raise ArgumentError("{regime} must be clip or gp, not '{value}'", "regime", value=cfg.regime)
        if cfg.d_steps < 1:
            raise ArgumentError(f"{{d_steps}} must be at least 1, not {cfg.d_steps}", "d_steps")
        depth = unet_depth(cfg.net_g, info.size)
        critic_norm = cfg.norm if cfg.regime == "clip" else "none"
        g = lambda i, o: init_weights(UnetGenerator(i, o, depth, cfg.ngf, cfg.norm, cfg.dropout), gain=cfg.init_gain)  # noqa: E731
        d = lambda c: init_weights(PatchGAN(c, cfg.ndf, cfg.n_layers_d, critic_norm), gain=cfg.init_gain)  # noqa: E731
        self.netG_AB, self.netG_BA = g(info.input_nc, info.output_nc), g(info.output_nc, info.input_nc)
        self.netD_A, self.netD_B = d(info.input_nc), d(info.output_nc)
        for net in (self.netD_A, self.netD_B):
            # a Wasserstein critic's output offset cancels in E[D(real)] - E[D(fake)]: it would never train
            net.model[-1].register_parameter("bias", None)

    def critic_steps(self, g_step):
        return self.cfg.d_steps

    def optimizers(self):
        if self.cfg.regime == "clip":
            spec = OptimSpec("rmsprop", self.cfg.lr, extra={"alpha": 0.9})  # TensorFlow's decay 0.9, as the authors' code
        else:
            spec = OptimSpec("adam", self.cfg.lr, (self.cfg.beta1, self.cfg.beta2))
        return {"G": spec, "D": spec}

    @torch.no_grad()
    def after_d_step(self):
        if self.cfg.regime == "clip":
            for p in [*self.netD_A.parameters(), *self.netD_B.parameters()]:
                p.clamp_(-self.cfg.clip_value, self.cfg.clip_value)

    def _critic(self, net, real, fake):
        loss = losses.d_loss(net(real), True, "wgan") + losses.d_loss(net(fake), False, "wgan")
        if self.cfg.regime == "gp":
            gp = losses.gradient_penalty(net, real, fake, weight=self.cfg.lambda_gp)
            return loss + gp, gp
        return loss, None

    def discriminator_step(self, batch, fakes):
        d_a, gp_a = self._critic(self.netD_A, batch["A"], fakes["fake_A"])
        d_b, gp_b = self._critic(self.netD_B, batch["B"], fakes["fake_B"])
        out = {"total": d_a + d_b, "D_A": d_a, "D_B": d_b}
        if gp_a is not None:
            out["GP"] = gp_a + gp_b
        return out

    def generator_step(self, batch, fakes):
        out = {"G_AB": losses.g_loss(self.netD_B(fakes["fake_B"]), "wgan"),
               "G_BA": losses.g_loss(self.netD_A(fakes["fake_A"]), "wgan"),
               "recovery_A": losses.l1(fakes["rec_A"], batch["A"]),
               "recovery_B": losses.l1(fakes["rec_B"], batch["B"])}
        total = out["G_AB"] + out["G_BA"] + self.cfg.lambda_l1 * (out["recovery_A"] + out["recovery_B"])
        return {"total": total, **out}
