"""A trained run in one object, for notebooks and scripts: ``translate.load_run(path)`` gives a ``Run`` that
translates one image (a PIL image or a numpy array, returned as the same type), a folder, or draws samples.
A ``Run`` still unpacks as ``model, cfg``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from PIL import Image

from translate import api, pictures, sampling
from translate.config import Config
from translate.data.image_files import image_array
from translate.errors import ArgumentError
from translate.inference import ConvertReport, convert_folder, translate_array


class Run(NamedTuple):
    """The model of a run (on its device, in its inference mode) and its config."""

    model: Any
    cfg: Config

    def __repr__(self) -> str:
        """One line: the model (see ``Model.__repr__``) and what its config says of the data; ``run.cfg`` has the rest."""
        data = self.cfg.data
        return (f"Run(model={self.model!r}, cfg=<{self.cfg.model}, {data.layout} data {data.root or '(none)'}, {data.direction}, "
                f"crop {data.crop_size}>)")

    def translate(self, image, direction: str | None = None):
        """One image translated: a PIL image gives a PIL image (L, I;16 or RGB, as the model's output
        channels and the input's depth allow) of the same size; an H x W or H x W x C (C 1 or 3) uint8 or
        uint16 array gives an array of the same dtype, H x W again when the output has one channel.
        16-bit values reach the model at full precision. Raises WrongRunError for a run that draws samples."""
        trained = self.cfg.data.direction
        if isinstance(image, Image.Image):
            gray = len(image.getbands()) <= 2 and image.mode not in ("P", "PA")
            out = translate_array(self.model, image_array(image, 1 if gray else 3, keep_depth=True), direction, trained)
            if out.shape[2] == 3 and out.dtype == np.uint16:  # Pillow has no 16-bit colour mode
                out = np.round(out / 257.0).astype(np.uint8)
            return Image.fromarray(out[:, :, 0] if out.shape[2] == 1 else out)
        if not (isinstance(image, np.ndarray) and image.dtype in (np.uint8, np.uint16) and
                (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (1, 3)))):
            what = f"a {image.dtype} array of shape {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
            raise ArgumentError("{image} must be a PIL image or an H x W or H x W x 1|3 uint8 or uint16 array, not {what}",
                                "image", what=what)
        out = translate_array(self.model, image[:, :, None] if image.ndim == 2 else image, direction, trained)
        return out[:, :, 0] if image.ndim == 2 and out.shape[2] == 1 else out

    def translate_folder(self, input: str | Path, output: str | Path, **options) -> ConvertReport:
        """``inference.convert_folder`` with this run: ``options`` are its keyword arguments (``ext``,
        ``out_depth``, ``ab``, ``batch_size``, ``tile``, ...)."""
        return convert_folder(self.model, input, output, **{"trained": self.cfg.data.direction, **options})

    def sample(self, n: int = 16, label: str | None = None, seed: int = 0) -> np.ndarray:
        """A uint8 H x W x C grid of ``n`` new samples drawn with ``seed`` (a labelled run without ``label``:
        one row per class; 2-D points: a scatter plot). Raises WrongRunError for a run that translates."""
        samples, per_row = sampling.draw(self.model, n, label, seed)
        return pictures.tile(pictures.visual_rows({"samples": samples}, per_row, plot_size=512))


def load_run(run_dir: str | Path, **options) -> Run:
    """``api.load_run(run_dir, **options)`` (a run folder or an official generator file; ``device``,
    ``mode``, ``seed``, ...) as a ``Run``."""
    return Run(*api.load_run(run_dir, **options))
