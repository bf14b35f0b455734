"""Loss functions, pure: no state, no modules. Every model takes its losses from here.

Adversarial modes: ``vanilla`` (BCE on logits; the generator side is non-saturating unless
``saturating=True``), ``lsgan`` (least squares), ``hinge`` and ``wgan`` (Wasserstein critic).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

GAN_MODES = ("vanilla", "lsgan", "hinge", "wgan")


def _check(mode: str) -> None:
    if mode not in GAN_MODES:
        raise ValueError(f"gan mode must be one of {GAN_MODES}, not {mode!r}")


def d_loss(pred: Tensor, real: bool, mode: str, smooth: float = 0.0) -> Tensor:
    """The discriminator's loss on predictions for real (``real=True``) or fake inputs.

    ``smooth``: one-sided label smoothing (Salimans et al. 2016): the real target of vanilla and lsgan is
    ``1 - smooth`` (0.9 for 0.1); the fake target stays 0.
    """
    _check(mode)
    pred = pred.float()
    target = (1.0 - smooth) if real else 0.0
    if mode == "vanilla":
        return F.binary_cross_entropy_with_logits(pred, torch.full_like(pred, target))
    if mode == "lsgan":
        return F.mse_loss(pred, torch.full_like(pred, target))
    if mode == "hinge":
        return F.relu(1.0 - pred).mean() if real else F.relu(1.0 + pred).mean()
    return -pred.mean() if real else pred.mean()


def g_loss(pred: Tensor, mode: str, saturating: bool = False) -> Tensor:
    """The generator's adversarial loss on the discriminator's predictions for its fakes.

    vanilla: non-saturating ``-log D(G(z))`` by default; ``saturating=True`` gives the minimax
    ``log(1 - D(G(z)))`` of Goodfellow et al., whose gradient vanishes when D wins.
    """
    _check(mode)
    pred = pred.float()
    if mode == "vanilla":
        if saturating:
            return -F.binary_cross_entropy_with_logits(pred, torch.zeros_like(pred))
        return F.binary_cross_entropy_with_logits(pred, torch.ones_like(pred))
    if mode == "lsgan":
        return F.mse_loss(pred, torch.ones_like(pred))
    return -pred.mean()  # hinge and wgan


def gradient_penalty(critic, real: Tensor, fake: Tensor, *extra, weight: float = 10.0, target: float = 1.0) -> Tensor:
    """Gulrajani et al.: ``weight * E[(||grad critic(x_hat)||_2 - target)^2]`` on random interpolates.

    ``extra`` are further critic inputs (e.g. labels) passed through unchanged. The graph is kept
    (create_graph) so the penalty trains the critic.
    """
    alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    out = critic(x_hat, *extra)
    (grad,) = torch.autograd.grad(out.float().sum(), x_hat, create_graph=True)
    norm = grad.float().flatten(1).norm(2, dim=1)
    return weight * ((norm - target) ** 2).mean()


def l1(a: Tensor, b: Tensor) -> Tensor:
    return F.l1_loss(a.float(), b.float())
