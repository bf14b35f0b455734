"""Mode coverage for 2-D toy mixtures, in the standard setting of the mode-collapse papers
(Metz et al., Srivastava et al. (VEEGAN), Lin et al. (PacGAN)): draw 2500 samples; a sample is
high quality when it lies within 3 standard deviations of a mode; a mode is covered when at least 20
high-quality samples fall on it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from translate.data.toy import get_toy

SAMPLES, SIGMAS, MIN_COUNT = 2500, 3.0, 20


@dataclass(frozen=True)
class Coverage:
    modes: int  # modes of the distribution
    covered: int  # modes with >= min_count high-quality samples
    high_quality: float  # fraction of samples within k std of a mode
    counts: tuple[int, ...]  # high-quality samples per mode

    def row(self) -> str:
        return f"{self.covered}/{self.modes} modes, {100 * self.high_quality:.1f}% high quality"


def mode_coverage(samples, anchors, std: float, anchor_mode=None, n_modes: int | None = None,
                  sigmas: float = SIGMAS, min_count: int = MIN_COUNT) -> Coverage:
    """Coverage of ``samples`` (N, 2) for modes given by ``anchors`` (M, 2).

    For a Gaussian mixture the anchors are the means (one per mode). For a curve such as the Swiss
    roll, the anchors are dense points on the curve and ``anchor_mode`` maps each to the segment
    (mode) it belongs to. A sample counts for the mode of its nearest anchor when that anchor is
    within ``sigmas * std``.
    """
    x = np.asarray(samples, dtype=np.float64)
    a = np.asarray(anchors, dtype=np.float64)
    owner = np.arange(len(a)) if anchor_mode is None else np.asarray(anchor_mode)
    n_modes = int(owner.max()) + 1 if n_modes is None else n_modes
    if x.ndim != 2 or x.shape[1] != a.shape[1]:
        raise ValueError(f"samples must be (N, {a.shape[1]}), got {x.shape}")
    if not np.isfinite(x).all():
        return Coverage(n_modes, 0, 0.0, (0,) * n_modes)
    nearest, dist = np.empty(len(x), dtype=np.int64), np.empty(len(x))
    for i in range(0, len(x), 512):  # chunks keep the (chunk, M) distance matrix small
        d = ((x[i:i + 512, None, :] - a[None, :, :]) ** 2).sum(-1)
        nearest[i:i + 512] = d.argmin(1)
        dist[i:i + 512] = np.sqrt(d.min(1))
    good = dist <= sigmas * std
    counts = np.bincount(owner[nearest[good]], minlength=n_modes)
    return Coverage(n_modes, int((counts >= min_count).sum()), float(good.mean()) if len(x) else 0.0,
                    tuple(int(c) for c in counts))


def toy_coverage(name: str, samples) -> Coverage:
    """Coverage of ``samples`` for the named toy distribution (ring8, grid25, swissroll)."""
    toy = get_toy(name)
    return mode_coverage(samples, toy.anchors, toy.std, toy.anchor_mode, toy.n_modes)
