"""The CPU GEMM path of Conv2d / ConvTranspose2d computes what torch's own modules compute."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from translate.nn import layers


@pytest.mark.parametrize("cls, base, cin, cout, size, stride, bias", [
    (layers.Conv2d, nn.Conv2d, 64, 128, 8, 2, True),  # 16 output positions <= 128 channels: GEMM
    (layers.Conv2d, nn.Conv2d, 32, 64, 4, 1, False),
    (layers.ConvTranspose2d, nn.ConvTranspose2d, 128, 64, 4, 2, True),  # 16 input positions <= 128: GEMM
    (layers.ConvTranspose2d, nn.ConvTranspose2d, 64, 32, 1, 2, False),
    (layers.Conv2d, nn.Conv2d, 3, 8, 16, 2, True),  # activation-bound: oneDNN as before
])
def test_gemm_path_matches_torch(cls, base, cin, cout, size, stride, bias, monkeypatch):
    torch.manual_seed(0)
    ours = layers.use_cpu_gemm(cls(cin, cout, 4, stride, 1, bias=bias))
    ref = base(cin, cout, 4, stride, 1, bias=bias)
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(3, cin, size, size, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_(True)
    y, y_ref = ours(x), ref(x_ref)
    assert y.shape == y_ref.shape
    assert torch.allclose(y, y_ref, atol=1e-5, rtol=1e-4)
    g = torch.randn_like(y)
    y.backward(g)
    y_ref.backward(g)
    assert torch.allclose(x.grad, x_ref.grad, atol=1e-5, rtol=1e-4)
    assert torch.allclose(ours.weight.grad, ref.weight.grad, atol=1e-4, rtol=1e-4)
    if bias:
        assert torch.allclose(ours.bias.grad, ref.bias.grad, atol=1e-4, rtol=1e-4)


def test_gemm_path_is_taken_only_where_weight_bound_and_turned_on(monkeypatch):
    calls, unfold = [], torch.nn.functional.unfold
    monkeypatch.setattr(torch.nn.functional, "unfold", lambda *a, **k: calls.append(1) or unfold(*a, **k))
    gemm = lambda *a: layers.use_cpu_gemm(layers.Conv2d(*a))  # noqa: E731
    gemm(64, 128, 4, 2, 1)(torch.randn(1, 64, 8, 8))
    assert calls, "a weight-bound conv takes the GEMM path"
    calls.clear()
    gemm(3, 8, 4, 2, 1)(torch.randn(1, 3, 64, 64))
    assert not calls, "an activation-bound conv stays on oneDNN"
    with torch.no_grad():
        gemm(64, 128, 4, 2, 1)(torch.randn(1, 64, 8, 8))
    assert not calls, "inference stays on oneDNN"
    layers.Conv2d(64, 128, 4, 2, 1)(torch.randn(1, 64, 8, 8))
    assert not calls, "the path is off unless turned on: importing the library changes nothing"
    layers.use_cpu_gemm(layers.Conv2d(64, 128, 4, 2, 1), False)(torch.randn(1, 64, 8, 8))
    assert not calls


@pytest.mark.parametrize("cls, base, cin, cout, size", [(layers.Conv2d, nn.Conv2d, 64, 128, 8),
                                                        (layers.ConvTranspose2d, nn.ConvTranspose2d, 128, 64, 4)])
def test_bf16_gemm_path_matches_torchs_bf16_convolution_and_stays_bf16(cls, base, cin, cout, size):
    torch.manual_seed(0)
    ours = layers.use_cpu_gemm(cls(cin, cout, 4, 2, 1, bias=True), bf16=True)
    ref = base(cin, cout, 4, 2, 1, bias=True)
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(2, cin, size, size)
    with torch.autocast("cpu", torch.bfloat16):
        y, y_ref = ours(x), ref(x)
    assert y.dtype == y_ref.dtype == torch.bfloat16  # the bias (fp32) does not promote the output back to fp32
    assert torch.allclose(y.float(), y_ref.float(), atol=0.05, rtol=0.02)
    y.float().sum().backward()
    assert ours.weight.grad.dtype == torch.float32 and torch.isfinite(ours.weight.grad).all()


def test_bf16_gemm_path_is_taken_only_where_the_cpu_has_bf16_arithmetic(monkeypatch):
    calls, unfold = [], torch.nn.functional.unfold
    monkeypatch.setattr(torch.nn.functional, "unfold", lambda *a, **k: calls.append(1) or unfold(*a, **k))
    x = torch.randn(1, 64, 8, 8)
    with torch.autocast("cpu", torch.bfloat16):
        layers.use_cpu_gemm(layers.Conv2d(64, 128, 4, 2, 1))(x)
        assert not calls, "without bf16 arithmetic (use_cpu_gemm's bf16=False) bf16 steps stay on oneDNN"
        layers.use_cpu_gemm(layers.Conv2d(64, 128, 4, 2, 1), bf16=True)(x)
        assert calls
    calls.clear()
    with torch.autocast("cpu", torch.float16):
        layers.use_cpu_gemm(layers.Conv2d(64, 128, 4, 2, 1), bf16=True)(x)
    assert not calls, "fp16 autocast stays on oneDNN"


def test_sync_batch_norm_gets_the_per_image_layer_in_paper_mode():
    """Under DDP batch norm is SyncBatchNorm: paper mode swaps it for the per-image layer like BatchNorm2d (the
    same output as the plain network's), and eval mode gives it back, synchronised. On CPU, so no forward of
    SyncBatchNorm in training mode (that needs CUDA and a process group)."""
    import copy

    from translate.registry import create_model
    from translate.types import DataInfo

    torch.manual_seed(0)
    plain = create_model("pix2pix", DataInfo(size=32), {"ngf": 8, "ndf": 8}).netG
    synced = nn.SyncBatchNorm.convert_sync_batchnorm(copy.deepcopy(plain))
    n_bn = sum(type(m) is nn.BatchNorm2d for m in plain.modules())
    assert n_bn > 0 and sum(type(m) is nn.SyncBatchNorm for m in synced.modules()) == n_bn
    x = torch.randn(3, 3, 32, 32)
    outs = []
    for net in (plain, synced):
        layers.set_mode(net, "paper")
        assert sum(type(m) is layers.PerImageBatchNorm2d for m in net.modules()) == n_bn
        assert not any(type(m) in (nn.BatchNorm2d, nn.SyncBatchNorm) for m in net.modules())
        with torch.no_grad():
            torch.manual_seed(1)  # the same dropout masks
            outs.append(net(x))
    assert torch.equal(outs[0], outs[1])
    layers.set_mode(synced, "eval")
    layers.set_mode(plain, "eval")
    assert sum(type(m) is nn.SyncBatchNorm for m in synced.modules()) == n_bn
    assert sum(type(m) is nn.BatchNorm2d for m in plain.modules()) == n_bn
    with torch.no_grad():
        assert torch.equal(plain(x), synced(x))  # eval: the running statistics, the same in both
