"""CycleGAN (Zhu et al., ICCV 2017): two ResNet generators, two 70x70 PatchGANs, LSGAN, cycle + identity.

Follows the paper and the official code: resnet_9blocks at 256 and resnet_6blocks below 256
(net_g=auto), reflection padding, instance norm, transposed-conv up-sampling (up=resize for
up-sample + conv against checkerboard artifacts), LSGAN loss, cycle weight 10 per direction, identity
weight 0.5 x 10, a 50-image history pool per discriminator (checkpointed, so resume is exact), D loss
halved, Adam 2e-4 (0.5, 0.999), normal init std 0.02, linear decay after the constant phase.
Update order: the generators first, then the discriminators, as the official ``optimize_parameters``
(models/cycle_gan_model.py: forward, the G step with the discriminators frozen, then the D step): the
generator step meets the discriminators' weights from before this iteration's update, and the
discriminators then learn from the fakes the generators made at the start of the iteration, drawn through
the history pools after the generator step (as ``backward_D_A``/``backward_D_B`` query them).
Differences: the pool draws from torch's RNG instead of Python's; both discriminators share one
optimizer and one backward pass (the official code also steps them together).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


from translate import losses
from translate.config import option
from translate.errors import ArgumentError
from translate.models.base import TwoWay
from translate.nn.layers import init_weights
from translate.nn.patchgan import PatchGAN
from translate.nn.pool import HistoryPool
from translate.nn.resnet import ResnetGenerator, resnet_blocks
from translate.nn.unet import UnetGenerator, unet_depth
from translate.registry import register_model


def build_generator(net_g: str, size: int, input_nc: int, output_nc: int, ngf: int, norm: str, dropout: bool, up: str):
    """``auto``: resnet_9blocks at 256 and above, resnet_6blocks below (the official code's choice)."""
    if net_g == "auto":
        net_g = "resnet_9blocks" if size >= 256 else "resnet_6blocks"
    if net_g.startswith("resnet_"):
        return ResnetGenerator(input_nc, output_nc, ngf, resnet_blocks(net_g), norm, dropout, up)
    if net_g.startswith("unet_"):
        return UnetGenerator(input_nc, output_nc, unet_depth(net_g, size), ngf, norm, dropout)
    raise ArgumentError("{net_g} must be auto, resnet_9blocks, resnet_6blocks or unet_N, not '{value}'", "net_g", value=net_g)


@register_model("cyclegan", task="unpaired")
class CycleGAN(TwoWay):
    """Unpaired translation with cycle consistency: G_AB, G_BA (ResNet) and D_A, D_B (70x70 PatchGAN)."""

    @dataclass(frozen=True)
    class Config:
        net_g: str = option("auto", "generator: auto (resnet_9blocks at >= 256, else resnet_6blocks) | resnet_Nblocks | unet_N")
        up: str = option("transpose", "generator up-sampling: transpose (official) | resize (nearest up-sample + conv, no checkerboard)")
        ngf: int = 64
        ndf: int = 64
        n_layers_d: int = option(3, "PatchGAN depth: 3 gives the 70x70 receptive field")
        norm: str = "instance"
        dropout: bool = option(False, "dropout 0.5 in the generators (off: the official default, no_dropout)")
        gan_mode: str = "lsgan"
        lambda_a: float = option(10.0, "weight of the cycle loss A -> B -> A")
        lambda_b: float = option(10.0, "weight of the cycle loss B -> A -> B")
        lambda_identity: float = option(0.5, "weight of the identity loss, times lambda_a / lambda_b; 0 disables it")
        pool_size: int = option(50, "fakes kept in the history pool the discriminators see; 0 disables it")
        lr: float = 2e-4
        beta1: float = 0.5
        beta2: float = 0.999
        init_gain: float = 0.02

    defaults = {"train": {"lr_policy": "linear_epochs"}}  # the official schedule: per epoch, down to 1/101
    generator_first = True  # the official optimize_parameters: G step, then D step

    def __init__(self, cfg, info):
        super().__init__(cfg, info)
        if cfg.lambda_identity > 0 and info.input_nc != info.output_nc:
            raise ArgumentError(f"the identity loss needs domains with the same channels (got {info.input_nc} and "
                                f"{info.output_nc}); pass {{lambda_identity}}=0", "lambda_identity")
        g = lambda i, o: init_weights(build_generator(cfg.net_g, info.size, i, o, cfg.ngf, cfg.norm, cfg.dropout, cfg.up),  # noqa: E731
                                      gain=cfg.init_gain)
        d = lambda c: init_weights(PatchGAN(c, cfg.ndf, cfg.n_layers_d, cfg.norm), gain=cfg.init_gain)  # noqa: E731
        self.netG_AB, self.netG_BA = g(info.input_nc, info.output_nc), g(info.output_nc, info.input_nc)
        self.netD_A, self.netD_B = d(info.input_nc), d(info.output_nc)  # D_A judges domain A, D_B domain B
        self.pool_A, self.pool_B = HistoryPool(cfg.pool_size), HistoryPool(cfg.pool_size)

    @property
    def per_sample(self) -> bool:
        """Whether every network treats each image of a batch on its own (instance norm or none, no dropout):
        then passes through the same network are batched into one call, which gives the same numbers as
        separate calls and runs them up to twice as fast on CPU."""
        return self.cfg.norm in ("instance", "none") and not self.cfg.dropout

    def fake(self, batch):
        """The translations and reconstructions, and with the identity loss G_AB(B) and G_BA(A): three batched
        generator calls where the networks are per-sample (``per_sample``), six separate ones otherwise."""
        a, b = batch["A"], batch["B"]
        identity = self.cfg.lambda_identity > 0
        if not self.per_sample:
            out = super().fake(batch)
            if identity:
                out.update(idt_B=self.netG_AB(b), idt_A=self.netG_BA(a))
            return out
        n = a.shape[0]
        first = self.netG_AB(torch.cat([a, b]) if identity else a)
        fake_b = first[:n]
        second = self.netG_BA(torch.cat([b, fake_b, a] if identity else [b, fake_b]))
        fake_a, rec_a = second[:n], second[n : 2 * n]
        out = {"fake_B": fake_b, "rec_A": rec_a, "fake_A": fake_a, "rec_B": self.netG_AB(fake_a)}
        if identity:
            out.update(idt_B=first[n:], idt_A=second[2 * n :])
        return out

    def _d_loss(self, net, real, fake):
        if self.per_sample:  # one call for both halves
            scores = net(torch.cat([real, fake]))
            score_real, score_fake = scores[: real.shape[0]], scores[real.shape[0] :]
        else:
            score_real, score_fake = net(real), net(fake)
        loss_real = losses.d_loss(score_real, True, self.cfg.gan_mode)
        loss_fake = losses.d_loss(score_fake, False, self.cfg.gan_mode)
        return 0.5 * (loss_real + loss_fake)

    def discriminator_step(self, batch, fakes):
        # domain B's pool first: the official backward_D_A (its D_A judges domain B) queries fake_B's pool first
        d_b = self._d_loss(self.netD_B, batch["B"], self.pool_B(fakes["fake_B"]))
        d_a = self._d_loss(self.netD_A, batch["A"], self.pool_A(fakes["fake_A"]))
        return {"total": d_a + d_b, "D_A": d_a, "D_B": d_b}

    def generator_step(self, batch, fakes):
        c = self.cfg
        out = {"G_AB": losses.g_loss(self.netD_B(fakes["fake_B"]), c.gan_mode),
               "G_BA": losses.g_loss(self.netD_A(fakes["fake_A"]), c.gan_mode),
               "cycle_A": losses.l1(fakes["rec_A"], batch["A"]),
               "cycle_B": losses.l1(fakes["rec_B"], batch["B"])}
        total = out["G_AB"] + out["G_BA"] + c.lambda_a * out["cycle_A"] + c.lambda_b * out["cycle_B"]
        if c.lambda_identity > 0:
            # G_AB should leave a B image as it is, and G_BA an A image (official: idt_A uses lambda_B)
            out["idt_B"] = losses.l1(fakes["idt_B"], batch["B"])
            out["idt_A"] = losses.l1(fakes["idt_A"], batch["A"])
            total = total + c.lambda_identity * (c.lambda_b * out["idt_B"] + c.lambda_a * out["idt_A"])
        return {"total": total, **out}
