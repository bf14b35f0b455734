"""Normalisation and initialisation factories, as the official pix2pix/CycleGAN code defines them."""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from translate.errors import ArgumentError


def norm_layer(kind: str):
    """batch: learnable affine + running stats; instance: no affine, no running stats; none."""
    if kind == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if kind == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    if kind == "none":
        return lambda channels: nn.Identity()
    raise ArgumentError("{norm} must be batch, instance or none, not '{value}'", "norm", value=kind)


def uses_bias(kind: str) -> bool:
    """Convolutions before batch norm carry no bias (the norm's shift replaces it)."""
    return kind != "batch"


INITS = ("normal", "xavier")


def init_weights(net: nn.Module, gain: float = 0.02, kind: str = "normal") -> nn.Module:
    """Conv/Linear weights N(0, gain) (``normal``: the official code's default, the one most models here use)
    or Xavier-normal with gain ``gain`` (``xavier``: the CUT code's default), biases 0; BatchNorm weights
    N(1, gain) and biases 0."""
    if kind not in INITS:
        raise ArgumentError("{init_type} must be normal or xavier, not '{value}'", "init_type", value=kind)

    def init(m):
        name = m.__class__.__name__
        if hasattr(m, "weight") and m.weight is not None and ("Conv" in name or "Linear" in name):
            if kind == "xavier":
                nn.init.xavier_normal_(m.weight, gain=gain)
            else:
                nn.init.normal_(m.weight, 0.0, gain)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif "BatchNorm" in name and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)

    net.apply(init)
    return net


def padded_forward(net: nn.Module, x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Run ``net`` on ``x`` padded (replicate) to a multiple of ``multiple`` and crop the output back,
    so networks that halve the resolution N times translate images of any size."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if not (ph or pw):
        return net(x)
    return net(F.pad(x, (0, pw, 0, ph), mode="replicate"))[..., :h, :w]


MODES = ("eval", "paper")


class PerImageBatchNorm2d(nn.BatchNorm2d):
    """Batch norm normalising each image with its own statistics (what batch norm in training mode does at
    batch size 1, as the pix2pix paper runs its test images), with the layer's affine weights; the running
    statistics are neither used nor updated, so images batched together stay independent."""

    def forward(self, x):
        return F.instance_norm(x, weight=self.weight, bias=self.bias, use_input_stats=True, eps=self.eps)


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ArgumentError("{mode} must be eval or paper, not '{value}'", "mode", value=mode)


def set_mode(net: nn.Module, mode: str) -> nn.Module:
    """Inference ``mode`` of ``net``: ``eval`` (running statistics, no dropout: the official ``--eval``) or
    ``paper`` (batch norm with each image's statistics, dropout on). A later ``net.eval()`` turns dropout off.
    ``SyncBatchNorm`` (batch norm under DDP) is swapped like ``BatchNorm2d``, and eval mode gives each layer
    back the class it had, so a synchronised layer stays synchronised when training goes on."""
    check_mode(mode)
    net.eval()
    for m in net.modules():
        if type(m) in (nn.BatchNorm2d, nn.SyncBatchNorm):
            m._eval_class = type(m)  # what eval mode gives back
        if type(m) in (nn.BatchNorm2d, nn.SyncBatchNorm, PerImageBatchNorm2d):
            m.__class__ = PerImageBatchNorm2d if mode == "paper" else getattr(m, "_eval_class", nn.BatchNorm2d)
        elif isinstance(m, nn.Dropout):
            m.train(mode == "paper")
    return net


def forked_rng(device: torch.device):
    """A block whose random draws, on the CPU and on ``device``, leave torch's random state as it was: what follows
    draws the same numbers as if the block had not run."""
    return torch.random.fork_rng(devices=[device] if device.type != "cpu" else [], device_type=device.type)


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


# -- convolutions with a faster CPU path where they are weight-bound ------------------------------------
# At batch sizes of a few images, the inner layers of these networks (512-1024 channels at 1x1 to 16x16)
# are bound by reading their weights, and oneDNN re-lays-out the weights on every call. Where the
# unfolded activations are no larger than the weights (conv: batch x output positions <= output
# channels; transposed conv: batch x input positions <= input channels), a plain GEMM on the weights as stored, with
# im2col / col2im around it, does the same fp32 arithmetic 1.3-5x faster on CPU; under bf16 autocast on a
# CPU with bf16 arithmetic (AVX512-BF16 or AMX) the same GEMM in bf16 took a pix2pix 256 step from 0.35 to
# 0.25 s (docs/speed.md). Every other case keeps oneDNN. Parameters and state-dict keys are those of
# torch's own modules. The path is off unless turned on for a network with ``use_cpu_gemm`` (the engine
# does, as its config says): importing this module changes nothing.


def use_cpu_gemm(net: nn.Module, enabled: bool = True, bf16: bool = False) -> nn.Module:
    """Let (or stop) the convolutions of ``net`` take the GEMM path on CPU where it is faster: in fp32 steps,
    and with ``bf16`` (a CPU with bf16 arithmetic) also in bf16-autocast steps."""
    for m in net.modules():
        if isinstance(m, (Conv2d, ConvTranspose2d)):
            m.cpu_gemm, m.cpu_gemm_bf16 = enabled, enabled and bf16
    return net


def _gemm_ok(m, x) -> bool:
    # training steps only: that is where it was measured faster (batched inference amortises oneDNN's weight
    # layout); in bf16 only where the CPU has bf16 arithmetic (elsewhere bf16 matmul is emulated)
    if not (m.cpu_gemm and x.device.type == "cpu" and torch.is_grad_enabled() and x.dim() == 4 and m.groups == 1
            and m.dilation == (1, 1) and m.padding_mode == "zeros" and isinstance(m.padding, tuple)):
        return False
    if torch.is_autocast_enabled("cpu"):
        return m.cpu_gemm_bf16 and torch.get_autocast_dtype("cpu") == torch.bfloat16 and x.dtype in (torch.float32, torch.bfloat16)
    return x.dtype == torch.float32


class Conv2d(nn.Conv2d):
    cpu_gemm = cpu_gemm_bf16 = False

    def forward(self, x):
        if not _gemm_ok(self, x):  # first: the shape test below would pin symbolic sizes under torch.export
            return super().forward(x)
        n, _, h, w = x.shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        positions = ((h + 2 * ph - kh) // sh + 1) * ((w + 2 * pw - kw) // sw + 1)
        if n * positions > self.out_channels:
            return super().forward(x)
        cols = F.unfold(x, (kh, kw), padding=(ph, pw), stride=(sh, sw))
        y = torch.matmul(self.weight.reshape(self.out_channels, -1), cols)
        y = y.reshape(n, self.out_channels, (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1)
        return y if self.bias is None else y + self.bias.to(y.dtype).view(1, -1, 1, 1)  # bf16 stays bf16


class ConvTranspose2d(nn.ConvTranspose2d):
    cpu_gemm = cpu_gemm_bf16 = False

    def forward(self, x, output_size=None):
        if not _gemm_ok(self, x) or output_size is not None or self.output_padding != (0, 0):
            return super().forward(x, output_size)
        n, cin, h, w = x.shape
        if n * h * w > cin:
            return super().forward(x, output_size)
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        cols = torch.matmul(self.weight.reshape(cin, -1).t(), x.reshape(n, cin, h * w))
        y = F.fold(cols, ((h - 1) * sh - 2 * ph + kh, (w - 1) * sw - 2 * pw + kw), (kh, kw), padding=(ph, pw), stride=(sh, sw))
        return y if self.bias is None else y + self.bias.to(y.dtype).view(1, -1, 1, 1)  # bf16 stays bf16
