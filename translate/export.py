"""Export a run's generator as a ``torch.export`` program (.pt2) or an ONNX model (.onnx), and check that
it gives the model's outputs before anything is written.

Inputs are N x C x H x W in [-1, 1]; outputs likewise. The .pt2 program holds the generator's graph and
weights, runs without this package (``torch.export.load(path).module()(x)``) and takes any batch size at
the exported image size. The ONNX model takes any batch size and any height and width from a few pixels up
(2 for a U-Net, 5 for a ResNet; the export message and the model's metadata say which): like the networks
themselves it pads its input (replicating the border) to a multiple of the network's factor (2**depth for
a U-Net or an encoder-decoder, 4 for a ResNet) and crops the output back, so sizes that are already
multiples of the factor run without padding.

The check runs the exported file's bytes (onnxruntime on the CPU for ONNX) on a real image: the first
image of the run's data folder when it still exists, else a fixed drawn picture, converted as
``translate convert`` converts (the input half of an A|B file, resized to the training size, in [-1, 1]).
A difference above the tolerance raises and writes nothing.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import math
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from translate.data.datasets import set_channels
from translate.data.image_files import load_image, resize, scan_images, to_tensor_range
from translate.errors import ArgumentError, ImageError, UserError, WrongRunError
from translate.files import atomic_write
from translate.models.base import Sampler, Translator

FORMATS = {".pt2": "pt2", ".onnx": "onnx"}
TOLERANCE = {"pt2": 1e-4, "onnx": 1e-3}  # largest difference from the model (outputs span [-1, 1])
ONNX_PACKAGES = ("onnx", "onnxscript", "onnxruntime")


class ParityError(RuntimeError):
    """The exported file's outputs differ from the model's by more than the tolerance (nothing was written)."""


def output_format(out: Path, fmt: str | None = None) -> str:
    """The format to write ``out`` in: ``fmt`` (pt2 or onnx, any case) or the file's suffix, which must agree."""
    out = Path(out)
    by_suffix = FORMATS.get(out.suffix.lower())
    if fmt is not None:
        wanted = fmt.lower().lstrip(".")
        if wanted not in TOLERANCE:
            raise ArgumentError("{format} must be onnx or pt2, not '{value}'", "format", value=fmt)
        if by_suffix not in (None, wanted) or (by_suffix is None and out.suffix):
            raise ArgumentError("{path}: {format} {fmt} writes a *.{fmt} file; name it *.{fmt}", "format",
                                path=out, fmt=wanted)
        return wanted
    if by_suffix is None:
        raise ArgumentError("{path}: export writes *.onnx (ONNX) or *.pt2 (torch.export); name the file so, or give {format}",
                            "format", path=out)
    return by_suffix


def size_factor(model: nn.Module) -> int:
    """The multiple the generators pad their inputs' sides to: 2**(down-sampling levels), 1 for none."""
    levels = [getattr(m, "depth", None) or getattr(m, "n_down", None) for m in model.modules()]
    return math.lcm(1, *(2**d for d in levels if isinstance(d, int)))


class _Direction(nn.Module):
    """``model.translate(x, direction)``, with the input padded to a multiple of ``factor`` first (so the
    graph has no size test and exports with symbolic height and width) when ``factor`` > 1."""

    def __init__(self, model, direction: str, factor: int = 1):
        super().__init__()
        self.model, self.direction, self.factor = model, direction, factor

    def forward(self, x):
        if self.factor == 1:
            return self.model.translate(x, self.direction)
        h, w = x.shape[-2:]
        y = self.model.translate(F.pad(x, (0, (-w) % self.factor, 0, (-h) % self.factor), mode="replicate"), self.direction)
        # crop by index: a slice would ask torch.export whether the padded size equals h, which it cannot decide
        return y.index_select(2, torch.arange(h)).index_select(3, torch.arange(w))


def smallest_side(wrapped: nn.Module, channels: int, factor: int) -> int:
    """The smallest square side ``wrapped`` translates (a ResNet's reflection padding needs its
    bottleneck to be 2 pixels wide), from 2 up to 2 * factor + 1."""
    for side in range(2, 2 * factor + 1):
        try:
            with torch.no_grad():
                wrapped(torch.zeros(1, channels, side, side))
            return side
        except (RuntimeError, ValueError):  # padding wider than the input; instance norm of one pixel
            continue
    return 2 * factor + 1


def _input_folder(root: Path, direction: str) -> Path:
    """The folder of ``root`` that holds the inputs of ``direction`` (trainA/ for AtoB), else ``root``."""
    side = direction[0]
    for sub in (f"train{side}", f"train/{side}", side, f"test{side}"):
        if (root / sub).is_dir():
            return root / sub
    return root


def _drawn_picture(size: int) -> np.ndarray:
    """A fixed picture with smooth shading, edges and flat areas (no randomness): uint8 H x W x 3."""
    yy, xx = np.mgrid[0:size, 0:size] / max(size - 1, 1)
    disc = (xx - 0.4) ** 2 + (yy - 0.55) ** 2 < 0.08
    bars = (np.floor(xx * 8) % 2 == 0) & (yy < 0.25)
    rgb = np.stack([0.2 + 0.6 * xx, 0.3 + 0.5 * yy, 0.9 - 0.6 * xx * yy], -1)
    rgb[disc] = (0.85, 0.3, 0.1)
    rgb[bars] = (0.1, 0.1, 0.1)
    return (rgb * 255).round().astype(np.uint8)


def check_image(data_root: str, direction: str, size: int, channels: int) -> tuple[torch.Tensor, str]:
    """(1 x C x size x size in [-1, 1], what it is): the first readable image of the run's inputs for
    ``direction`` under ``data_root``, else a drawn picture."""
    root = Path(data_root) if data_root else None
    files = scan_images(_input_folder(root, direction), recursive=True)[0] if root and root.is_dir() else []
    arr, source = None, "a drawn picture"
    for path in files[:8]:
        with contextlib.suppress(ImageError):
            arr, source = load_image(path), str(path)
            break
    if arr is None:
        arr = _drawn_picture(size)
    elif arr.shape[1] == 2 * arr.shape[0]:  # an A|B file: the input half
        half = arr.shape[1] // 2
        arr = arr[:, :half] if direction == "AtoB" else arr[:, half:]
    if arr.shape[:2] != (size, size):
        arr = resize(arr, size, size)
    return to_tensor_range(set_channels(arr, channels))[None], source


def require_onnx() -> None:
    missing = [name for name in ONNX_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError(f'ONNX export needs {", ".join(missing)}: pip install "translate-gan[onnx]"')


def _onnx_bytes(wrapped: nn.Module, example: torch.Tensor, notes: dict[str, str], side: int) -> bytes:
    import onnx  # optional: the onnx extra

    dims = {0: torch.export.Dim("batch", min=1, max=4096), 2: torch.export.Dim("height", min=side, max=65536),
            3: torch.export.Dim("width", min=side, max=65536)}
    with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(wrapped, (example,), input_names=["x"], output_names=["y"],
                                    dynamic_shapes={"x": dims}, dynamo=True, verbose=False)
    proto = program.model_proto
    proto.doc_string = notes.pop("doc")
    onnx.helper.set_model_props(proto, notes)
    return proto.SerializeToString()


def _onnx_run(data: bytes):
    import onnxruntime  # optional: the onnx extra

    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    return lambda x: torch.from_numpy(session.run(None, {"x": x.numpy()})[0])


def _pt2_bytes(wrapped: nn.Module, example: torch.Tensor) -> bytes:
    with torch.no_grad():
        program = torch.export.export(wrapped, (example,), dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1, max=4096)}})
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    return buffer.getvalue()


def _pt2_run(data: bytes):
    module = torch.export.load(io.BytesIO(data)).module()
    return lambda x: module(x)


class _Noise(nn.Module):
    """A sampler's generator as a function of its noise ``z`` (N x nz) and, for a labelled model, of the
    class indices ``labels`` (N, int64)."""

    def __init__(self, generator: nn.Module, labelled: bool):
        super().__init__()
        self.generator, self.labelled = generator, labelled

    def forward(self, z, labels=None):
        return self.generator(z, labels if self.labelled else None)


def export_sampler(model, out: Path, fmt: str) -> dict:
    """Write the generator of a sampling run (gan, wgan, wgan_gp, cgan) as ``out``, checked on seeded noise
    (see ``export_generator``): inputs ``z`` and, for cgan, ``labels``; output N x C x H x W in [-1, 1]."""
    model = model.eval().to("cpu", memory_format=torch.contiguous_format)
    generator = model.netG
    classes = model.info.num_classes if getattr(generator, "code", None) is not None else 0
    wrapped = _Noise(generator, classes > 0)
    names = ["z", "labels"] if classes else ["z"]

    def inputs(n: int, seed: int) -> tuple[torch.Tensor, ...]:
        z = torch.randn(n, generator.nz, generator=torch.Generator().manual_seed(seed))
        return (z, torch.arange(n) % classes) if classes else (z,)

    shape = f"N x {model.info.output_nc} x {model.info.size} x {model.info.size} in [-1, 1]" if not model.info.dim \
        else f"N x {model.info.dim} points"
    rule = f"z: N x {generator.nz} noise drawn from N(0, 1)" + (f", labels: N class indices 0..{classes - 1} (int64)" if classes else "") \
        + f"; gives {shape}, any batch size"
    batch = torch.export.Dim("batch", min=1, max=4096)
    dynamic = {name: {0: batch} for name in names}
    example = inputs(3, 1)
    with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        if fmt == "pt2":
            buffer = io.BytesIO()
            torch.export.save(torch.export.export(wrapped, example, dynamic_shapes=dynamic), buffer)
            data = buffer.getvalue()
            module = torch.export.load(io.BytesIO(data)).module()
            run = lambda *x: module(*x)  # noqa: E731
        else:
            import onnx  # optional: the onnx extra
            import onnxruntime

            proto = torch.onnx.export(wrapped, example, input_names=names, output_names=["y"], dynamic_shapes=dynamic,
                                      dynamo=True, verbose=False).model_proto
            proto.doc_string = f"translate {model.name} generator: {rule}"
            onnx.helper.set_model_props(proto, {"model": model.name, "input_size": rule, "value_range": "[-1, 1]"})
            data = proto.SerializeToString()
            session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
            run = lambda *x: torch.from_numpy(session.run(None, {n: t.numpy() for n, t in zip(names, x)})[0])  # noqa: E731
        diff = max(float((run(*x) - wrapped(*x)).abs().max()) for x in (inputs(1, 0), inputs(4, 2)))
    tolerance = TOLERANCE[fmt]
    if not diff <= tolerance:
        raise ParityError(f"the exported {fmt} differs from the model by {diff:.2e} (> {tolerance}); nothing written")
    atomic_write(out, lambda fh: fh.write(data))
    return {"format": fmt, "diff": diff, "tolerance": tolerance, "image": "seeded noise", "rule": rule}


def export_generator(model, out: Path, size: int, direction: str | None = None, trained: str = "AtoB",
                     fmt: str | None = None, data_root: str = "") -> dict:
    """Write ``out`` (.pt2 or .onnx, see ``output_format``) once it matches the model, atomically.
    Returns format, diff (the largest output difference), tolerance, image (what was checked on) and rule
    (the input sizes the file takes). Raises ParityError, writing nothing, above the tolerance."""
    out = Path(out)
    fmt = output_format(out, fmt)
    if fmt == "onnx":
        require_onnx()
    if isinstance(model, Sampler) and isinstance(getattr(model, "netG", None), nn.Module):
        if direction is not None:
            raise ArgumentError("{direction}: a sampling run maps noise to images and has no direction; leave it out", "direction")
        return export_sampler(model, out, fmt)
    if not isinstance(model, Translator):
        raise WrongRunError(f"{model.name} draws samples and has no image-to-image generator to export", translates=False)
    direction = model.resolve_direction(direction, trained)
    model = model.eval().to("cpu", memory_format=torch.contiguous_format)
    channels = model.input_channels(direction)
    way = direction if len(model.directions) > 1 else trained  # of the data: a paired run's input is its trained half
    image, source = check_image(data_root, way, size, channels)
    checks = [image, torch.cat([image, image.flip(-1)])]
    if fmt == "pt2":
        rule = f"{size}x{size} images, any batch size"
        wrapped = _Direction(model, direction)
        data = _pt2_bytes(wrapped, torch.rand(2, channels, size, size) * 2 - 1)
        run = _pt2_run(data)
    else:
        factor = size_factor(model)
        wrapped = _Direction(model, direction, factor)
        side = smallest_side(wrapped, channels, factor)
        rule = f"any batch size, height and width >= {side}" + (
            f" (padded inside to a multiple of {factor} and cropped back; multiples of {factor} need no padding)" if factor > 1 else "")
        notes = {"doc": f"translate {model.name} generator, {way} ({way[0]} -> {way[-1]}): x is N x {channels} x H x W in [-1, 1], "
                        f"y is N x {model.output_channels(direction)} x H x W in [-1, 1]; {rule}",
                 "model": model.name, "direction": way, "value_range": "[-1, 1]", "input_size": rule,
                 "size_factor": str(factor)}
        # trace at a size that is no multiple of the factor and pads to a bottleneck 2 pixels wide, so no
        # size is taken for a constant; check that second size (and a third batch size) too
        odd = max(side, factor + factor // 2 + 1)
        data = _onnx_bytes(wrapped, torch.rand(2, channels, odd, odd + 2) * 2 - 1, notes, side)
        run = _onnx_run(data)
        checks.append(F.interpolate(torch.cat([image.flip(-2)] * 3), size=(odd, odd + 2), mode="bilinear").clamp(-1, 1))
    with torch.no_grad():
        diff = max(float((run(x) - wrapped(x)).abs().max()) for x in checks)
    tolerance = TOLERANCE[fmt]
    if not diff <= tolerance:
        raise ParityError(f"the exported {fmt} differs from the model by {diff:.2e} (> {tolerance}); nothing written")
    atomic_write(out, lambda fh: fh.write(data))
    return {"format": fmt, "diff": diff, "tolerance": tolerance, "image": source, "rule": rule}
