"""The model contract. A model is its networks plus a loss recipe; the engine owns everything else.

The engine calls, once per iteration (one batch)::

    fakes = model.fake(batch)                                 # generators run once
    if the next generator step still needs a critic step (it needs model.critic_steps(g_step)):
        d = model.discriminator_step(batch, detached(fakes))  # d["total"] is backpropagated into "D" only
        model.after_d_step()                                  # e.g. weight clipping
    if its critic steps are done (now or before):
        fakes = model.fake(batch) if model.fresh_noise_for_g  # a new z for G (GAN, WGAN, WGAN-GP)
        g = model.generator_step(batch, fakes)                # with "D" frozen; g["total"] into "G" only

in that order (the discriminator first) by default. A model with ``generator_first`` takes the generator
step first, against the discriminators' weights before this iteration's update, and then the critic step
on the same (detached) fakes: CycleGAN, as its official code's ``optimize_parameters``.

A critic step and the generator step that follows it share the iteration's batch; with k critic steps
per generator step, k batches pass per generator step. ``model.g_step`` holds the number of generator
steps taken before this iteration's (for schedules such as DiscoGAN's curriculum).

Before any of that, once, the engine calls ``model.prepare(batch)`` with a first batch on the device: after
the model is on its device (and in its memory format) and before the optimizers are built from
``param_groups()`` and before a checkpoint is loaded into the model. A model whose networks take their shape
from the data builds them there (CUT's projection head F, from the generator's feature shapes, as the authors'
``data_dependent_initialize``), so a resumed run rebuilds them and then loads their state. The default does
nothing.

With ``augment=diff`` the engine passes every image each discriminator judges (the first argument of its
``forward`` and of its ``features``, if it has that method) through DiffAugment, in the critic and the
generator steps alike; a model calls its discriminators as usual and says only which of their input
channels are a condition (``condition_channels``).

Every other key of the returned dicts is logged under that name. The contract is split by what a
model does at inference: a ``Translator`` maps images (``translate``), a ``Sampler`` draws new ones
(``sample``); the commands ask ``isinstance`` which one a run holds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from translate.errors import ArgumentError
from translate.losses import GAN_MODES
from translate.nn.layers import forked_rng
from translate.types import DataInfo


@dataclass(frozen=True)
class OptimSpec:
    """An optimizer the engine builds for one parameter group."""

    kind: str = "adam"  # adam | rmsprop
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    weight_decay: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def build(self, params) -> torch.optim.Optimizer:
        params = list(params)
        if self.kind == "adam":
            # the fused kernel updates all tensors in one pass: same numbers, far less time on CPU and GPU
            fused = "fused" not in self.extra and all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
            extra = {"fused": True, **self.extra} if fused else self.extra
            return torch.optim.Adam(params, lr=self.lr, betas=self.betas, weight_decay=self.weight_decay, **extra)
        if self.kind == "rmsprop":
            return torch.optim.RMSprop(params, lr=self.lr, weight_decay=self.weight_decay, **self.extra)
        raise ValueError(f"unknown optimizer kind {self.kind!r}")


class Model(nn.Module):
    """What the engine trains: networks named in ``generators`` and ``discriminators`` and a loss recipe."""

    name: ClassVar[str]
    task: ClassVar[str]  # paired | unpaired | labelled | unconditional
    Config: ClassVar[type]
    # Config sections this model changes from the generic defaults, e.g. {"data": {"load_size": 64}}.
    defaults: ClassVar[dict[str, dict[str, Any]]] = {}
    # Where the model's defaults (its Config's and ``defaults``) depart from its paper and official code, the
    # settings that undo each departure, by section ("model_opts", "train", ...): what ``paper`` applies.
    paper_settings: ClassVar[dict[str, dict[str, Any]]] = {}
    # Attributes holding the networks: the generators are trained as group "G" and are what inference
    # needs (saved as the run's generator weights); the discriminators are group "D".
    generators: ClassVar[tuple[str, ...]] = ("netG",)
    discriminators: ClassVar[tuple[str, ...]] = ("netD",)
    # a new z minibatch for the generator step (the GAN, WGAN and WGAN-GP papers' Algorithm 1); False:
    # the generator step reuses the fakes of the critic step (pix2pix and CycleGAN, as their official code)
    fresh_noise_for_g: ClassVar[bool] = False
    # the update order of an iteration: False (the default) the critic step, then the generator step (pix2pix's
    # official code, the GAN and WGAN papers' Algorithm 1); True: the generator step, then the critic step on
    # the same fakes (CycleGAN's official code)
    generator_first: ClassVar[bool] = False
    # how the generators run at inference unless asked otherwise (translate.nn.layers.MODES): "eval" (batch
    # norm's running statistics, no dropout) or "paper" (each image's own statistics, dropout on); the
    # engine's sample grids and scores use it too
    inference_mode: ClassVar[str] = "eval"
    # options an older version of the model accepted and ignored, with the value its saved configs hold:
    # dropped on load when they hold it (``registry.model_config``), refused otherwise
    retired_options: ClassVar[dict[str, Any]] = {}
    # options a later version added with a default other than what older versions did: the value a saved run's
    # config.yaml that lacks one was trained with (``api.load_config``), so its checkpoints still load and resume
    earlier_defaults: ClassVar[dict[str, Any]] = {}
    g_step: int = 0  # generator steps taken before the current iteration's (the engine sets it)

    @property
    def condition_channels(self) -> int:
        """How many leading channels of each discriminator's image input are a condition rather than the image
        it judges (pix2pix's D on cat(A, B): A's channels). With ``augment=diff`` (translate.nn.augment) the
        engine moves the whole input (translation, cutout) but changes the colour of the judged channels only,
        the last ones; 0 (the default): every channel is judged. Labels passed to a discriminator beside its
        image (cgan's D(x, y)) are not channels of its input and pass unchanged."""
        return 0

    def critic_steps(self, g_step: int) -> int:
        """Critic (discriminator) steps before generator step ``g_step`` (counted from 0): 1 by default; 0
        gives a generator-only iteration."""
        return 1

    def __init__(self, cfg, info: DataInfo):
        super().__init__()
        if getattr(cfg, "gan_mode", None) not in (None, *GAN_MODES):
            raise ArgumentError("{gan_mode} must be one of {choices}, not '{value}'", "gan_mode", choices=", ".join(GAN_MODES),
                                value=cfg.gan_mode)
        self.cfg = cfg
        self.info = info

    def __repr__(self) -> str:
        """One line: the model, its task, what it maps and the size of each network (not every layer)."""
        does = "/".join(getattr(self, "directions", ())) or "draws samples"
        nets = [(name, getattr(self, name, None)) for name in (*self.generators, *self.discriminators)]
        sizes = ", ".join(f"{name} {sum(p.numel() for p in net.parameters()) / 1e6:.2f} M" for name, net in nets
                          if isinstance(net, nn.Module))
        return f"<{type(self).__name__} '{getattr(self, 'name', '?')}', {self.task}, {does}; parameters: {sizes}>"

    def prepare(self, batch: dict[str, Tensor]) -> None:
        """Called once by the engine with a first batch on the device, before the optimizers are built and
        before a checkpoint is loaded: build networks whose shape depends on the data. Default: nothing."""

    # -- what the engine optimises ---------------------------------------------------------
    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"G": [p for m in self.generators for p in getattr(self, m).parameters()],
                "D": [p for m in self.discriminators for p in getattr(self, m).parameters()]}

    def optimizers(self) -> dict[str, OptimSpec]:
        """Adam at ``lr`` for every group; a model whose options hold ``lr_d`` (not 0) gives D that rate (the
        two time-scale update rule, Heusel et al. 2017)."""
        betas = (self.cfg.beta1, self.cfg.beta2)
        lr_d = getattr(self.cfg, "lr_d", 0.0) or self.cfg.lr
        return {group: OptimSpec("adam", lr_d if group == "D" else self.cfg.lr, betas) for group in self.param_groups()}

    def after_d_step(self) -> None:
        """Runs after every discriminator update (WGAN weight clipping); default: nothing."""

    # -- the recipe ----------------------------------------------------------------------------
    def fake(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        raise NotImplementedError

    def discriminator_step(self, batch, fakes) -> dict[str, Tensor]:
        raise NotImplementedError

    def generator_step(self, batch, fakes) -> dict[str, Tensor]:
        raise NotImplementedError

    def visuals(self, batch, fakes) -> dict[str, Tensor]:
        """Columns of the sample grid, each (N, C, H, W) in [-1, 1] (or (N, 2) point sets for 2-D data)."""
        raise NotImplementedError

    def inference_state(self) -> dict[str, Tensor]:
        return {f"{m}.{k}": v for m in self.generators for k, v in getattr(self, m).state_dict().items()}


class Translator(Model):
    """A model that maps images: paired and unpaired tasks."""

    directions: ClassVar[tuple[str, ...]] = ("AtoB",)  # what translate() accepts; unpaired models add "BtoA"

    def translate(self, x: Tensor, direction: str = "AtoB") -> Tensor:
        """(N, C, H, W) in [-1, 1] to the other domain; any size (the networks pad and crop back)."""
        raise NotImplementedError

    def resolve_direction(self, direction: str | None, trained: str = "AtoB") -> str:
        """The ``translate`` direction for a user's ``direction`` (any case; None: the default). A model
        with one direction (paired, or a one-way unpaired model) translates only the way its run was trained
        (``trained``, the run's data direction): for a paired run, the half of the pairs that was its input."""
        wanted = None
        if direction is not None:
            wanted = {"atob": "AtoB", "btoa": "BtoA"}.get(direction.lower())
            if wanted is None:
                raise ArgumentError("{direction} must be AtoB or BtoA, not '{value}'", "direction", value=direction)
        if len(self.directions) > 1:
            return wanted or self.directions[0]
        if wanted not in (None, trained) and self.task != "paired":
            raise ArgumentError(f"model '{{name}}' translates one way, and this run was trained {trained} ({trained[0]} -> "
                                f"{trained[-1]}); leave out {{direction}} or train a run with {{direction}}={wanted}", "direction",
                                name=self.name)
        if wanted not in (None, trained):
            raise ArgumentError(f"this run was trained {trained} ({trained[0]} -> {trained[-1]}): its input is the {trained[0]} "
                                f"half of the pairs, and it translates only {trained}; leave out {{direction}} or train a run "
                                f"with {{direction}}={wanted}", "direction")
        return self.directions[0]

    def input_channels(self, direction: str) -> int:
        """The channels ``translate(x, direction)`` takes: domain A's (``info.input_nc``) for AtoB, B's for BtoA."""
        return self.info.output_nc if direction == "BtoA" else self.info.input_nc

    def output_channels(self, direction: str) -> int:
        """The channels ``translate(x, direction)`` gives: the other domain's."""
        return self.info.input_nc if direction == "BtoA" else self.info.output_nc


class Sampler(Model):
    """A model that draws new images from noise: unconditional and labelled tasks."""

    def sample(self, n: int, labels: Tensor | None = None) -> Tensor:
        raise NotImplementedError

    def draw(self, n: int, label: str | None = None, seed: int = 0) -> tuple[Tensor, int]:
        """(``n`` samples from noise seeded by ``seed``, images per row), torch's random state left as it
        was. A labelled model without ``label`` gives one row per class."""
        if n < 1:
            raise ArgumentError("{n} must be at least 1", "n")
        classes = self.info.class_names
        device = next(self.parameters()).device
        labels, per_row = None, max(1, math.ceil(math.sqrt(n)))
        if label is not None:
            if not classes:
                raise ArgumentError(f"model '{self.name}' is unconditional: {{label}} needs a run of a labelled model (cgan)", "label")
            if label not in classes:
                raise ArgumentError("unknown class '{value}' for {label}; this run's classes: {classes}", "label", value=label,
                                    classes=", ".join(classes))
            labels = torch.full((n,), classes.index(label), dtype=torch.long, device=device)
        elif classes:
            per_row = max(1, n // len(classes))
            labels = torch.arange(len(classes), device=device).repeat_interleave(per_row)
        count = n if labels is None else len(labels)
        with torch.no_grad(), forked_rng(device):
            torch.manual_seed(seed)
            if device.type == "cuda":
                torch.cuda.manual_seed_all(seed)
            out = self.sample(count, labels)
        return out.float().cpu(), per_row


class TwoWay(Translator):
    """Unpaired models with generators ``netG_AB`` and ``netG_BA`` and discriminators ``netD_A`` (judges
    domain A) and ``netD_B``: they translate either way, and their sample grids show real | translated |
    reconstructed, the A rows then the B rows. ``fake()`` returns fake_B, rec_A, fake_A and rec_B."""

    generators = ("netG_AB", "netG_BA")
    discriminators = ("netD_A", "netD_B")
    directions = ("AtoB", "BtoA")

    def fake(self, batch):
        fake_b = self.netG_AB(batch["A"])
        fake_a = self.netG_BA(batch["B"])
        return {"fake_B": fake_b, "rec_A": self.netG_BA(fake_b), "fake_A": fake_a, "rec_B": self.netG_AB(fake_a)}

    def translate(self, x, direction="AtoB"):
        if direction not in self.directions:
            raise ValueError(f"direction must be AtoB or BtoA, not {direction!r}")
        return (self.netG_AB if direction == "AtoB" else self.netG_BA)(x)

    def visuals(self, batch, fakes):
        cols = {"real": (batch["A"], batch["B"]), "translated": (fakes["fake_B"], fakes["fake_A"]),
                "reconstructed": (fakes["rec_A"], fakes["rec_B"])}
        if len({t.shape[1] for pair in cols.values() for t in pair}) > 1:  # a grayscale domain: show as RGB
            cols = {k: tuple(t.expand(-1, 3, -1, -1) if t.shape[1] == 1 else t for t in v) for k, v in cols.items()}
        return {k: torch.cat([a.float(), b.float()]) for k, (a, b) in cols.items()}
