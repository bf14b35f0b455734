"""Generator weights saved by the official pix2pix/CycleGAN code (``latest_net_G.pth``, ``latest_net_G_A.pth``).

Our U-Net and ResNet generators are built module for module as the official ones, so a state-dict key
names the same module path in both; the one difference is a name: the official residual block keeps its
layers in ``conv_block``, ours in ``block``. Keys map by that rule, per path segment, both ways.

Old files lack the ``num_batches_tracked`` buffers of batch norm (PyTorch before 0.4.1) or carry
``running_mean``/``running_var``/``num_batches_tracked`` for instance norm, which has none: as the official
code's ``__patch_instance_norm_state_dict`` does, the extra buffers are dropped and missing counters are
taken from the network. Instance norm without affine parameters has no tensors in the file.

A file that matches no network gets, in one line, the architecture it is closest to and the arguments
that describe it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from translate.errors import ArgumentError, UserError
from translate.files import safe_load
from translate.nn.resnet import ResnetGenerator, resnet_blocks
from translate.nn.unet import UnetGenerator, unet_depth

ARCHITECTURES = ("unet_256", "unet_128", "resnet_9blocks", "resnet_6blocks")
OURS_TO_OFFICIAL = {"block": "conv_block"}  # module names that differ, per path segment
OFFICIAL_TO_OURS = {v: k for k, v in OURS_TO_OFFICIAL.items()}
COUNTER = "num_batches_tracked"


def _rename(key: str, table: Mapping[str, str]) -> str:
    return ".".join(table.get(part, part) for part in key.split("."))


def to_official(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our generator's state dict under the official code's key names."""
    return {_rename(k, OURS_TO_OFFICIAL): v for k, v in state.items()}


def from_official(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """An official generator state dict under our key names (a ``module.`` prefix of a wrapped network dropped)."""
    return {_rename(k.removeprefix("module."), OFFICIAL_TO_OURS): v for k, v in state.items()}


def is_official(data) -> bool:
    """A plain mapping of tensor names to tensors with the official generators' top-level ``model.``."""
    return (isinstance(data, Mapping) and bool(data) and all(isinstance(v, torch.Tensor) for v in data.values())
            and all(str(k).removeprefix("module.").startswith("model.") for k in data))


def read(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict of an official generator file (loaded weights-only: no code runs)."""
    data = safe_load(Path(path))
    if not is_official(data):
        raise UserError(f"{path}: not a generator file of the official pix2pix/CycleGAN code (a plain state dict with "
                        f"keys such as model.model.0.weight); pass a run folder or a latest_net_G*.pth file")
    return dict(data)


def build(net_g: str, input_nc: int, output_nc: int, ngf: int, norm: str, dropout: bool) -> nn.Module:
    """The generator the official ``define_G`` builds for these options (ours, with the same parameters)."""
    if net_g.startswith("resnet_"):
        return ResnetGenerator(input_nc, output_nc, ngf, resnet_blocks(net_g), norm, dropout)
    return UnetGenerator(input_nc, output_nc, unet_depth(net_g, 256), ngf, norm, dropout)


def has_dropout(state: Mapping[str, torch.Tensor]) -> bool:
    """ResNet blocks with dropout hold their second conv at index 6 instead of 5 (U-Nets: no trace in the file)."""
    return any(".conv_block.6." in k or ".block.6." in k for k in state)


def patched(state: Mapping[str, torch.Tensor], net: nn.Module) -> dict[str, torch.Tensor]:
    """``state`` (our names) with the buffers of old files fixed for ``net``: norm buffers ``net`` does not
    have dropped, batch-norm counters it lacks taken from ``net``."""
    own = net.state_dict()
    out = {k: v for k, v in state.items()
           if k in own or k.rsplit(".", 1)[-1] not in (COUNTER, "running_mean", "running_var")}
    out.update({k: v for k, v in own.items() if k.endswith(COUNTER) and k not in out})
    return out


def _shapes(state: Mapping[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in state.items() if k.rsplit(".", 1)[-1] != COUNTER}


def load(net: nn.Module, state: Mapping[str, torch.Tensor], source, options: Mapping[str, object]) -> None:
    """Load an official generator ``state`` into ``net``, built from ``options`` (net_g, ngf, norm, input_nc,
    output_nc); a file of another architecture raises ArgumentError naming the closest one."""
    ours = patched(from_official(state), net)
    own = net.state_dict()
    if _shapes(ours) != _shapes(own):
        raise mismatch(state, source, options)
    net.load_state_dict(ours)


def check(state: Mapping[str, torch.Tensor], source, options: Mapping[str, object], dropout: bool) -> None:
    """Raise ArgumentError (as ``load``) unless ``state`` holds every tensor, by name and shape, of the generator
    ``options`` (net_g, ngf, norm, input_nc, output_nc) and ``dropout`` describe; no weights are made."""
    with torch.device("meta"):
        net = build(str(options["net_g"]), int(options.get("input_nc", 3)), int(options.get("output_nc", 3)),
                    int(options["ngf"]), str(options["norm"]), dropout)
    if _shapes(patched(from_official(state), net)) != _shapes(net.state_dict()):
        raise mismatch(state, source, options)


def _channels(state: Mapping[str, torch.Tensor], given: tuple[int, int]) -> tuple[int, int]:
    """(input_nc, output_nc) the file's first and last convolutions show, else ``given``."""
    state = from_official(state)
    if "model.model.0.weight" in state and "model.model.3.weight" in state:  # U-Net: down conv, transposed up conv
        return state["model.model.0.weight"].shape[1], state["model.model.3.weight"].shape[1]
    convs = sorted((int(k.split(".")[1]), v) for k, v in state.items()
                   if k.count(".") == 2 and k.endswith(".weight") and v.dim() == 4 and k.split(".")[1].isdigit())
    if convs and convs[0][1].shape[-1] == 7 and convs[-1][1].shape[-1] == 7:
        return convs[0][1].shape[1], convs[-1][1].shape[0]
    return given


def closest(state: Mapping[str, torch.Tensor], input_nc: int = 3, output_nc: int = 3) -> tuple[dict, int, int]:
    """(options, tensors that agree, tensors compared) of the candidate generator nearest ``state``: unet_128/256
    and resnet_6/9blocks, ngf 32, 64 or the file's own, batch or instance norm, with the file's channels."""
    theirs = _shapes(from_official(state))
    in_nc, out_nc = _channels(state, (input_nc, output_nc))
    first = next(iter(theirs.values()), (64,))
    best = None
    for net_g in ARCHITECTURES:
        for ngf in sorted({32, 64, first[0]}):
            for norm in ("batch", "instance"):
                with torch.device("meta"):
                    net = build(net_g, in_nc, out_nc, ngf, norm, has_dropout(state))
                cand = _shapes(net.state_dict())
                agree = sum(theirs.get(k) == s for k, s in cand.items())
                score = (agree / max(len(cand), len(theirs), 1), -abs(len(cand) - len(theirs)))
                if best is None or score > best[0]:
                    options = {"net_g": net_g, "ngf": ngf, "norm": norm, "input_nc": in_nc, "output_nc": out_nc}
                    best = (score, options, agree, max(len(cand), len(theirs)))
    return best[1], best[2], best[3]


def mismatch(state: Mapping[str, torch.Tensor], source, options: Mapping[str, object]) -> ArgumentError:
    """The error for a file that does not fit ``options``: the closest architecture and the arguments to pass."""
    found, agree, total = closest(state, options.get("input_nc", 3), options.get("output_nc", 3))
    names = ["net_g", "ngf", "norm"] + [k for k in ("input_nc", "output_nc") if found[k] != options.get(k, 3)]
    asked = " ".join(f"{{{k}}}={{asked_{k}}}" for k in ("net_g", "ngf", "norm") if options.get(k) is not None)
    lead = f"it does not fit {asked}" if options.get("net_g") else "name its architecture"
    advice = " ".join(f"{{{k}}}={{found_{k}}}" for k in names)
    return ArgumentError("{source}: a generator file of the official code; " + lead + "; closest: {found_net_g}, ngf "
                         "{found_ngf}, {found_norm} norm ({agree} of {total} tensors agree): pass " + advice,
                         *dict.fromkeys(names + ["net_g", "ngf", "norm"]), source=source, agree=agree, total=total,
                         **{f"found_{k}": found[k] for k in found},
                         **{f"asked_{k}": options.get(k) for k in ("net_g", "ngf", "norm")})
