"""DiffAugment (Zhao et al., "Differentiable Augmentation for Data-Efficient GAN Training", NeurIPS 2020):
the same random, differentiable transforms on every image a discriminator sees, real and fake, in its own
update and in the generator's, so that D cannot memorise a small training set and G still gets gradients.

The transforms and their ranges are the paper's (its authors' DiffAugment_pytorch.py), with one random
draw per image of the batch, on the tensor's device, from torch's global generator, in the same order:

- ``color``: brightness ``x + U(-0.5, 0.5)``; then saturation ``(x - m) * U(0, 2) + m`` with ``m`` the mean
  over the channels at each pixel; then contrast ``(x - m) * U(0.5, 1.5) + m`` with ``m`` the image's mean;
- ``translation``: a shift by a whole number of pixels, up to 1/8 of the height (rows) and of the width
  (columns) either way, the pixels moved in from outside being 0;
- ``cutout``: a square of half the size (rounded) set to 0, its centre anywhere in the image (a square
  over an edge is cut there).

Written here rather than with kornia.augmentation: kornia's ColorJitter draws other factors (its brightness
and saturation have other ranges and meanings, and it clamps to [0, 1]), and its RandomAffine translates by
interpolated (sub-)pixels with other padding, and its RandomErasing draws rectangles of random area and
ratio; none reproduces the paper's integer shift with zero fill or its half-size square. The code below is
a few tensor operations without host synchronisation or loops over the batch: the shift is two gathers
along the rows and the columns of the zero-padded image, the cutout a multiplication by a mask.

``condition`` (a conditional discriminator's input, the condition's channels first, as pix2pix's D on
cat(A, B)): the geometric transforms move the whole tensor, the condition with the image it conditions, and
``color`` changes only the channels after the first ``condition``, the image being judged.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

TRANSLATION_RATIO = 0.125  # the largest shift, as a fraction of the size
CUTOUT_RATIO = 0.5  # the side of the cut square, as a fraction of the size


def _draw(x: Tensor) -> Tensor:
    """One U(0, 1) number per image, shaped to broadcast over (N, C, H, W)."""
    return torch.rand(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device)


# -- each transform with given parameters (one value per image, shape (N,)) ------------------------------
def brightness(x: Tensor, shift: Tensor) -> Tensor:
    return x + shift.view(-1, 1, 1, 1)


def saturation(x: Tensor, factor: Tensor) -> Tensor:
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * factor.view(-1, 1, 1, 1) + mean


def contrast(x: Tensor, factor: Tensor) -> Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * factor.view(-1, 1, 1, 1) + mean


def translation(x: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    """``out[:, :, i, j] = x[:, :, i + rows, j + cols]``, 0 where that is outside the image (integer shifts,
    one per image): the content moves up by ``rows`` and left by ``cols``."""
    n, c, h, w = x.shape
    padded = F.pad(x, (1, 1, 1, 1))
    ar_h = torch.arange(1, h + 1, device=x.device)
    ar_w = torch.arange(1, w + 1, device=x.device)
    at_rows = (ar_h + rows.view(-1, 1)).clamp_(0, h + 1)  # (N, H) into the padded rows; 0 and h+1 are the zeros
    at_cols = (ar_w + cols.view(-1, 1)).clamp_(0, w + 1)
    out = padded.gather(2, at_rows.view(n, 1, h, 1).expand(n, c, h, w + 2))
    return out.gather(3, at_cols.view(n, 1, 1, w).expand(n, c, h, w))


def cutout(x: Tensor, top: Tensor, left: Tensor, height: int, width: int) -> Tensor:
    """``x`` with the rectangle of rows ``top .. top + height - 1`` and columns ``left .. left + width - 1``
    (one corner per image; the part inside the image) set to 0."""
    h, w = x.shape[2], x.shape[3]
    ar_h = torch.arange(h, device=x.device)
    ar_w = torch.arange(w, device=x.device)
    in_rows = (ar_h >= top.view(-1, 1)) & (ar_h < top.view(-1, 1) + height)  # (N, H)
    in_cols = (ar_w >= left.view(-1, 1)) & (ar_w < left.view(-1, 1) + width)
    keep = ~(in_rows[:, None, :, None] & in_cols[:, None, None, :])
    return x * keep.to(x.dtype)


# -- the random transforms of the policy ------------------------------------------------------------------
def rand_color(x: Tensor) -> Tensor:
    x = x + (_draw(x) - 0.5)
    x = saturation(x, _draw(x) * 2)
    return contrast(x, _draw(x) + 0.5)


def rand_translation(x: Tensor, ratio: float = TRANSLATION_RATIO) -> Tensor:
    n, h, w = x.shape[0], x.shape[2], x.shape[3]
    max_h, max_w = int(h * ratio + 0.5), int(w * ratio + 0.5)
    rows = torch.randint(-max_h, max_h + 1, (n,), device=x.device)
    cols = torch.randint(-max_w, max_w + 1, (n,), device=x.device)
    return translation(x, rows, cols)


def rand_cutout(x: Tensor, ratio: float = CUTOUT_RATIO) -> Tensor:
    n, h, w = x.shape[0], x.shape[2], x.shape[3]
    size_h, size_w = int(h * ratio + 0.5), int(w * ratio + 0.5)
    centre_h = torch.randint(0, h + (1 - size_h % 2), (n,), device=x.device)
    centre_w = torch.randint(0, w + (1 - size_w % 2), (n,), device=x.device)
    return cutout(x, centre_h - size_h // 2, centre_w - size_w // 2, size_h, size_w)


AUGMENTS: dict[str, Callable[[Tensor], Tensor]] = {"color": rand_color, "translation": rand_translation, "cutout": rand_cutout}
DEFAULT_POLICY = "color,translation,cutout"


def policy_words(policy: str) -> tuple[str, ...]:
    """The transforms of a comma-separated policy, in its order; ValueError names an unknown word."""
    words = tuple(w.strip().lower() for w in policy.split(",") if w.strip())
    for word in words:
        if word not in AUGMENTS:
            raise ValueError(f"unknown augmentation '{word}'; known: {', '.join(AUGMENTS)}")
    return words


def diff_augment(x: Tensor, policy: str | Sequence[str] = DEFAULT_POLICY, condition: int = 0) -> Tensor:
    """``x`` (N, C, H, W) through the policy's transforms in its order, each drawn per image. ``condition``:
    the first channels are a condition which ``color`` leaves as they are (see the module's docstring).
    The result keeps ``x``'s memory format (channels-last stays channels-last)."""
    words = policy_words(policy) if isinstance(policy, str) else tuple(policy)
    channels_last = x.dim() == 4 and x.shape[1] > 1 and x.is_contiguous(memory_format=torch.channels_last) \
        and not x.is_contiguous()
    for word in words:
        if word == "color" and condition:
            x = torch.cat([x[:, :condition], rand_color(x[:, condition:])], 1)
        else:
            x = AUGMENTS[word](x)
    return x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


class Augmented:
    """DiffAugment installed on discriminators: a forward pre-hook on each replaces its first positional
    argument, when that is a batch of images (N, C, H, W), with ``diff_augment`` of it (other arguments, e.g.
    labels, pass unchanged), and its ``features`` method, if it has one (feature matching), is wrapped to do
    the same. The networks' parameters and state-dict keys stay as they were; ``remove`` undoes it."""

    def __init__(self, networks: Sequence[torch.nn.Module], policy: str | Sequence[str] = DEFAULT_POLICY, condition: int = 0):
        self.words = policy_words(policy) if isinstance(policy, str) else tuple(policy)
        self.condition = condition
        self.calls = 0  # images batches augmented so far (for tests)
        self._inside = False  # in a wrapped ``features``: a forward it makes sees images already augmented
        self._hooks = [net.register_forward_pre_hook(self._pre_hook, with_kwargs=True) for net in networks]
        self._wrapped = [net for net in networks if callable(getattr(net, "features", None))]
        for net in self._wrapped:
            net.features = self._augmenting(net.features)

    def __call__(self, x):
        if not isinstance(x, Tensor) or x.dim() != 4:
            return x
        self.calls += 1
        return diff_augment(x, self.words, self.condition)

    def _pre_hook(self, module, args, kwargs):
        if self._inside or not args:
            return None
        return (self(args[0]), *args[1:]), kwargs

    def _augmenting(self, features: Callable) -> Callable:
        def augmented_features(x, *args, **kwargs):
            self._inside = True
            try:
                return features(self(x), *args, **kwargs)
            finally:
                self._inside = False
        augmented_features.__doc__ = features.__doc__
        return augmented_features

    def remove(self) -> None:
        for hook in self._hooks:
            hook.remove()
        for net in self._wrapped:
            del net.features  # the class's method again
        self._hooks, self._wrapped = [], []
