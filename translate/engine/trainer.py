"""The training loop. It knows the model contract (translate/models/base.py), never a model's name."""

from __future__ import annotations

import io
import logging
import math
import re
import signal
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR
from torch.utils.data import default_collate

from translate import pictures
from translate.config import Config
from translate.data.datasets import ResumableBatchSampler
from translate.data.loader import batch_loader, default_workers, read_batches
from translate.engine import plots, run_folder
from translate.engine.distributed import Distributed, batch_norm_warning, sync_batch_norm
from translate.engine.ema import GeneratorEMA
from translate.engine.hardware import (autocast, compile_networks, native_bf16, rng_state, set_rng_state,
                                      tune_cpu_allocator, warn_emulated_bf16)
from translate.engine.progress import TrainProgress
from translate.engine.scalars import ScalarLogger
from translate.errors import ArgumentError, DivergedError, OutOfMemory, UserError
from translate.files import atomic_save
from translate.nn.augment import Augmented
from translate.nn.layers import forked_rng, set_mode, use_cpu_gemm

log = logging.getLogger("translate")
CHECKPOINT_VERSION = 2  # 2: the EMA in torch AveragedModel's layout (version 1 checkpoints are converted on load)
STATISTICS_IMAGES = 32  # training images (evenly spaced, fixed augmentation) that recompute the EMA's batch-norm statistics
NEVER = 2**62  # the step at which a watched value was first not finite, while it has not been


def lr_factor(cfg, it: int, total: int, decay_start: int, iters_per_epoch: int) -> float:
    """Multiplier of the base learning rate at iteration ``it`` (0-based)."""
    if cfg.lr_policy == "linear":
        return 1.0 - max(0, it - decay_start) / float(max(1, total - decay_start))
    if cfg.lr_policy == "linear_epochs":  # the official code: stepped once per epoch, down to 1 / (decay epochs + 1)
        if it < decay_start:
            return 1.0
        epochs = math.ceil((total - decay_start) / iters_per_epoch)
        return 1.0 - ((it - decay_start) // iters_per_epoch + 1) / float(epochs + 1)
    if cfg.lr_policy == "step":
        return 0.1 ** (it // max(1, cfg.lr_step_every * iters_per_epoch))
    if cfg.lr_policy == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * it / max(1, total)))
    return 1.0


def schedule_length(cfg, iters_per_epoch: int) -> tuple[int, int]:
    """(total iterations, iteration at which linear decay starts)."""
    if cfg.steps is not None:
        return cfg.steps, max(0, cfg.steps - cfg.steps_decay)
    total = (cfg.epochs + cfg.epochs_decay) * iters_per_epoch
    return total, cfg.epochs * iters_per_epoch


def model_summary(model) -> list[str]:
    """One line per network (attribute, class, what the network says of itself, parameters) and the total."""
    lines, totals = [], {}
    named = (*model.generators, *model.discriminators)
    others = [name for name, net in model.named_children() if name not in named and any(True for _ in net.parameters())]
    in_g = {id(p) for p in model.param_groups()["G"]} if others else set()
    for name in (*named, *others):  # others: trained networks not used at inference nor judging (CUT's head F)
        net = getattr(model, name)
        group = "G" if name in model.generators else "D" if name in model.discriminators else \
            "G" if id(next(net.parameters())) in in_g else "D"
        n = sum(p.numel() for p in net.parameters())
        totals[group] = totals.get(group, 0) + n
        about = f" {net.describe()}" if callable(getattr(net, "describe", None)) else ""
        trained = f", trained with {group}" if name in others else ""
        lines.append(f"{name}: {type(net).__name__}{about}{trained}, {n / 1e6:.2f} M parameters ({n:,})")
    n = sum(totals.values())
    groups = ", ".join(f"{g} {m / 1e6:.2f} M" for g, m in totals.items())
    lines.append(f"total: {n / 1e6:.2f} M parameters ({n:,}; {groups})")
    return lines


def augment_discriminators(model, tc) -> Augmented | None:
    """With ``augment=diff``: DiffAugment (``tc.augment_policy``) on every discriminator of ``model``, the
    model's ``condition_channels`` left uncoloured, for every call of the critic and generator steps; None
    otherwise. Installed in one place, here, and once per model (a second trainer of the model replaces it)."""
    old = model.__dict__.get("_augmented")
    if old is not None:
        old.remove()
    aug = None
    if tc.augment == "diff":
        aug = Augmented([getattr(model, n) for n in model.discriminators], tc.augment_policy, model.condition_channels)
    model.__dict__["_augmented"] = aug
    return aug


def to_device(batch: dict, device: torch.device, channels_last: bool) -> dict:
    out = {}
    for k, v in batch.items():
        if isinstance(v, torch.Tensor):
            v = v.to(device, non_blocking=True)
            if channels_last and v.dim() == 4:
                v = v.contiguous(memory_format=torch.channels_last)
        out[k] = v
    return out


class StopFlag:
    """First Ctrl-C (or SIGTERM) stops at the end of the iteration and checkpoints; a second one aborts."""

    def __init__(self):
        self.stop = False
        self._old = {}

    def __enter__(self):
        def handler(signum, frame):
            if self.stop:
                raise KeyboardInterrupt
            self.stop = True
            log.warning("stopping after this iteration and saving a checkpoint (press Ctrl-C again to abort)")

        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, handler)
            except ValueError:  # not the main thread
                pass
        return self

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


def critic_position(critic_steps: Callable[[int], int], step: int) -> tuple[int, int]:
    """(generator steps taken, critic steps taken toward the next) after ``step`` iterations of a model
    whose generator step ``g`` needs ``critic_steps(g)`` critic steps (see ``Trainer.train_step``)."""
    g = d = 0
    for _ in range(step):
        need = critic_steps(g)
        d += d < need
        if d >= need:
            g, d = g + 1, 0
    return g, d


class Trainer:
    PLOT_EVERY_S = 10.0  # results.png is redrawn at a log row at most this often, and at the end of a run

    def __init__(self, cfg: Config, run_dir: Path, model, dataset, device: torch.device, state: dict | None = None,
                 progress: bool | None = None, evaluator: Callable[[Any], dict[str, float]] | None = None,
                 dist: Distributed | None = None):
        """``evaluator``: with ``eval_every``, a function of the model returning its scores, lower is better; it
        runs in the model's inference mode (``model.inference_mode``: paper for pix2pix and DualGAN, eval for the
        others) with the EMA weights; the first one chooses the best weights. ``dist``: the processes
        training together (torchrun); only rank 0 writes ``run_dir``, the others never touch it."""
        self.dist = dist or Distributed(device=device)
        # the model's data-dependent networks are built on a fixed batch: the loader's random state is not touched
        self._setup_step(cfg, model, device, vector_data=dataset.info.dim > 0, batch=dataset.fixed_batch(cfg.train.batch_size))
        self.run_dir, self.dataset, self.evaluator = Path(run_dir), dataset, evaluator
        self.metrics = run_folder.MetricsLog(self.run_dir / run_folder.METRICS, write=self.dist.writer)
        self.scalars = ScalarLogger("none", self.run_dir)
        self.plotted_rows, self.plotted_at = -1, time.perf_counter()  # results.png: rows drawn, and when
        if state is not None:
            self._load_state(state)
        self.dist.broadcast_module(model)
        self.dist.fork_rng(self.tc.seed, self.step)
        self.sampler = ResumableBatchSampler(len(dataset), self.tc.batch_size, self.tc.seed, start=self.step,
                                             rank=self.dist.rank, world_size=self.dist.world_size)
        self._schedule(self.sampler.iters_per_epoch)
        self.fixed = to_device(dataset.fixed_batch(self.tc.num_samples), device, self.channels_last)
        self.progress = (sys.stdout.isatty() if progress is None else progress) and self.dist.writer

    def _schedule(self, iters_per_epoch: int) -> None:
        """The schedule's length (``total`` iterations, linear decay from ``decay_start``) for epochs of
        ``iters_per_epoch`` iterations, and the learning rate following it."""
        self.iters_per_epoch = iters_per_epoch
        self.total, self.decay_start = schedule_length(self.tc, iters_per_epoch)
        self._build_schedules()

    def _build_schedules(self) -> None:
        """The learning rate is a pure function of the step (times ``lr_scale``, which each rollback after a
        non-finite value halves), so a resumed or rolled-back run rebuilds its schedule at its step."""
        for g, opt in self.optimizers.items():
            for pg, base in zip(opt.param_groups, self.base_lr[g]):
                pg.setdefault("initial_lr", base)
        factor = lambda it: self.lr_scale * lr_factor(self.tc, it, self.total, self.decay_start, self.iters_per_epoch)  # noqa: E731
        self.schedules = [LambdaLR(opt, factor, last_epoch=self.step - 1) for opt in self.optimizers.values()]

    @classmethod
    def for_step(cls, cfg: Config, model, device: torch.device, iters_per_epoch: int = 1, batch: dict | None = None) -> "Trainer":
        """Optimizers, scalers, EMA and the learning-rate schedule (of ``cfg.train``, for epochs of
        ``iters_per_epoch`` iterations), without data or a run folder: enough for ``train_step`` (tests,
        benchmarks) and for ``run`` on batches the caller makes (the 2-D lab). ``batch``: a first batch (on
        any device) for ``model.prepare``, which a model with data-dependent networks (CUT) needs."""
        self = cls.__new__(cls)
        self.dist = Distributed(device=device)
        self._setup_step(cfg, model, device, vector_data=model.info.dim > 0, batch=batch)
        self._schedule(iters_per_epoch)
        return self

    def _setup_step(self, cfg: Config, model, device: torch.device, vector_data: bool, batch: dict | None = None) -> None:
        self.cfg, self.tc, self.model, self.device = cfg, cfg.train, model, device
        if self.tc.augment != "none" and vector_data:
            raise ArgumentError("{augment} %s transforms images and this run's data are 2-D points: leave {augment} none"
                                % self.tc.augment, "augment")
        wanted = device.type == "cuda" if self.tc.channels_last is None else self.tc.channels_last
        self.channels_last = bool(wanted) and device.type != "mps" and not vector_data
        if device.type == "cpu" and self.tc.cpu_allocator:
            tune_cpu_allocator()
        if self.tc.threads > 0:  # torch's intra-op threads, for the whole process
            torch.set_num_threads(self.tc.threads)
        use_cpu_gemm(model, device.type == "cpu" and self.tc.cpu_gemm, bf16=self.tc.precision == "bf16" and native_bf16())
        model.to(device)
        sync_batch_norm(model, model.generators + model.discriminators, self.dist)
        note = batch_norm_warning(model, self.tc.batch_size, self.dist.world_size, device.type)
        if note is not None and self.dist.writer:
            warnings.warn(note, stacklevel=2)
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        if batch is not None:  # on its device, before the optimizers (and a checkpoint) see the parameters
            model.prepare(to_device(batch, device, self.channels_last))
        self.augment = augment_discriminators(model, self.tc)
        groups = model.param_groups()
        if set(groups) != {"G", "D"}:
            raise TypeError(f"{type(model).__name__}.param_groups() must return exactly the groups 'G' and 'D'")
        specs = model.optimizers()
        self.optimizers = {g: specs[g].build(groups[g]) for g in groups}
        self.base_lr = {g: [pg["lr"] for pg in opt.param_groups] for g, opt in self.optimizers.items()}
        self.d_params = groups["D"]
        fp16 = self.tc.precision == "fp16"
        self.scalers = {g: torch.amp.GradScaler(device.type, enabled=fp16) for g in groups}
        self.ema = GeneratorEMA(model, self.tc.ema, self.tc.ema_every) if self.tc.ema > 0 else None
        self.statistics: tuple[int, list[torch.Tensor]] | None = None  # the EMA's batch-norm statistics, by its updates
        self.statistics_batches: list[dict] | None = None  # the training batches that compute them, on the host
        warn_emulated_bf16(device, self.tc.precision)
        if self.tc.compile:  # after the EMA's copy of the generator, which stays plain
            compile_networks([getattr(model, n) for n in (*model.generators, *model.discriminators)], device)
        self.step = 0
        self.position = (0, 0, 0)  # (step, generator steps, critic steps toward the next) of the critic schedule
        self.saved_step: int | None = None  # the step of the state in last.pt, once this trainer knows it
        self.lr_scale, self.rollbacks = 1.0, 0
        # on the device, so that no step waits for the host: the total gradient norm of each group of this
        # step, and for each loss and gradient the first step at which it was not finite (read at checks)
        self.grad_norms: dict[str, torch.Tensor] = {}
        self.first_bad: dict[str, torch.Tensor] = {}
        self.initial_state: bytes | None = None  # a new run's state at step 0, until its first checkpoint
        self.best: dict[str, Any] | None = None  # with evaluation: {"step", "score" (its name), "value"} of the best weights

    # -- state ------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "version": CHECKPOINT_VERSION,
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizers": {g: o.state_dict() for g, o in self.optimizers.items()},
            "scalers": {g: s.state_dict() for g, s in self.scalers.items()},
            "ema": self.ema.state_dict() if self.ema else None,
            "rng": rng_state(),
            "config": self.cfg.to_dict(),
            "lr_scale": self.lr_scale,
            "best": self.best,
        }

    def _load_state(self, state: dict) -> None:
        if int(state.get("version", 1)) > CHECKPOINT_VERSION:
            raise UserError(f"the checkpoint was written by a newer version of translate (checkpoint version {state['version']}, "
                            f"this one reads up to {CHECKPOINT_VERSION}); upgrade translate to resume it")
        self.model.load_state_dict(state["model"])
        for g, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][g])
        for g, scaler in self.scalers.items():
            if state["scalers"].get(g):
                scaler.load_state_dict(state["scalers"][g])
        if self.ema and state.get("ema"):  # a version-1 average, which kept no count, has the age of its generator steps
            self.ema.load_state_dict(state["ema"], age=critic_position(self.model.critic_steps, int(state["step"]))[0])
        self.statistics = None
        set_rng_state(state["rng"])
        self.lr_scale = float(state.get("lr_scale", 1.0))
        best = state.get("best")  # a rollback keeps a better best than its checkpoint's: best.pt holds it
        if self.best is None or best is not None and best["value"] < self.best["value"]:
            self.best = best
        self.step = self.saved_step = int(state["step"])
        self.metrics.truncate_after(self.step)
        self.dist.fork_rng(self.tc.seed, self.step)

    def save_checkpoint(self) -> Path | None:
        """``checkpoints/last.pt`` (the one before it kept as ``previous.pt``) and the generator weights. A
        second save at the same step (a stop right after a checkpoint) rewrites ``last.pt`` only. With several
        processes only rank 0 writes (the others return None), and the others fork their random streams anew."""
        if not self.dist.writer:
            self.saved_step, self.initial_state = self.step, None
            self.dist.fork_rng(self.tc.seed, self.step)
            return None
        path = run_folder.write_checkpoint(self.state_dict(), self.run_dir / run_folder.CHECKPOINTS, self.step,
                                           self.tc.keep_checkpoints, rotate=self.step != self.saved_step,
                                           keep_previous=self.tc.keep_previous)
        self.saved_step, self.initial_state = self.step, None
        with self._averaged(statistics=True):
            atomic_save(run_folder.weights_payload(self.model), self.run_dir / run_folder.WEIGHTS)
        return path

    # -- the averaged generators -----------------------------------------------------------------
    @contextmanager
    def _averaged(self, statistics: bool) -> Iterator[None]:
        """The EMA's weights in the model (the live ones without an EMA); with ``statistics`` also batch-norm
        running statistics of the averaged weights (``_recompute_statistics``), so that eval mode and the saved
        generator use statistics that belong to them, not those the live weights gathered."""
        if not self.ema:
            yield
            return
        with self.ema.applied():
            if statistics:
                self._recompute_statistics()
            yield

    def _statistics_batches(self) -> list[dict]:
        """``STATISTICS_IMAGES`` training samples evenly spaced through the dataset, each with the augmentation
        of its key (as ``dataset[key]`` gives it: no random state drawn), in batches of the training batch size."""
        if self.statistics_batches is None:
            n, size = len(self.dataset), self.tc.batch_size
            count = min(n, max(STATISTICS_IMAGES, size))
            keys = dict.fromkeys(round(i * (n - 1) / max(1, count - 1)) for i in range(count))
            samples = [self.dataset[k] for k in keys]
            self.statistics_batches = [default_collate(samples[i:i + size]) for i in range(0, len(samples) - size + 1, size)]
        return self.statistics_batches

    @torch.no_grad()
    def _recompute_statistics(self) -> None:
        """Batch-norm running statistics for the weights in the generators now (the EMA's), as torch's
        ``swa_utils.update_bn`` computes them: reset, then the cumulative average over the generators' passes in
        training mode over ``_statistics_batches``. Cheap (a few dozen images, once per EMA update count) and
        deterministic: torch's random state is forked and seeded, the data order is not touched."""
        norms = [m for m in self.ema.live.modules()
                 if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
        if not norms or getattr(self, "dataset", None) is None:
            return
        buffers = [b for m in norms for b in (m.running_mean, m.running_var, m.num_batches_tracked)]
        if self.statistics is not None and self.statistics[0] == self.ema.updates:
            torch._foreach_copy_(buffers, self.statistics[1])
            return
        modes = {m: m.training for m in self.ema.live.modules()}
        kinds = {m: type(m) for m in norms}
        momenta = {m: m.momentum for m in norms}
        try:
            with forked_rng(self.device):
                torch.manual_seed(self.tc.seed)
                for m in norms:
                    if type(m) is not nn.BatchNorm2d and isinstance(m, nn.BatchNorm2d):  # per-image or synchronised
                        m.__class__ = nn.BatchNorm2d  # plain batch norm: this process alone, its running statistics
                    m.reset_running_stats()
                    m.momentum = None  # the cumulative average over the batches
                self.ema.live.train()
                for batch in self._statistics_batches():
                    self.model.fake(to_device(batch, self.device, self.channels_last))
        finally:
            for m, training in modes.items():
                m.training = training
            for m in norms:
                m.__class__, m.momentum = kinds[m], momenta[m]
        self.statistics = (self.ema.updates, [b.clone() for b in buffers])

    # -- samples and evaluation ------------------------------------------------------------------
    @contextmanager
    def _inference(self) -> Iterator[None]:
        """The model in its inference mode (``model.inference_mode``; dropout masks drawn from the run's
        seed) with the EMA weights, no gradients and torch's random state put back afterwards: a sample
        grid or an evaluation leaves the training exactly as it would be without it."""
        try:
            with torch.no_grad(), forked_rng(self.device), \
                    self._averaged(statistics=self.model.inference_mode == "eval"):
                set_mode(self.model, self.model.inference_mode)
                torch.manual_seed(self.tc.seed)
                yield
        finally:
            set_mode(self.model, "eval")  # back to plain batch norm
            self.model.train()

    def write_samples(self) -> Path | None:
        if not self.dist.writer:
            return None
        with self._inference():  # the same noise in every grid
            with autocast(self.device, self.tc.precision):
                visuals = self.model.visuals(self.fixed, self.model.fake(self.fixed))
        path = self.run_dir / run_folder.SAMPLES / f"step_{self.step:08d}.png"
        pictures.write_grid(visuals, path)
        newest_first = sorted((p.name for p in path.parent.glob("*.png")), reverse=True)
        results = [f"../{run_folder.RESULTS}"] if (self.run_dir / run_folder.RESULTS).is_file() else []
        pictures.write_index(path.parent, "samples", results + newest_first, f"columns: {' | '.join(visuals)}")
        return path

    def evaluate(self) -> dict[str, float]:
        """Score the generator in its inference mode (``model.inference_mode``, as the sample grids; not
        necessarily eval mode) with the EMA weights; when the first score is the best yet, write generator_best.pt
        (and checkpoints/best.pt with ``best_state``). The scores as ``eval_<name>`` columns of a metrics row (rank 0
        only scores)."""
        if not self.dist.writer:
            return {}
        with self._inference():
            scores = self.evaluator(self.model)
        name, value = next(iter(scores.items()))
        if self.best is None or value < self.best["value"]:
            self.best = {"step": self.step, "score": name, "value": float(value)}
            with self._averaged(statistics=True):
                run_folder.write_best(self.state_dict() if self.tc.best_state else None, run_folder.weights_payload(self.model), self.run_dir)
            log.info("step %d: best %s so far, %.6g; saved %s", self.step, name, value, run_folder.WEIGHTS_BEST)
        return {f"eval_{k}": float(v) for k, v in scores.items()}

    # -- one iteration ---------------------------------------------------------------------------
    def _backward(self, group: str, loss: torch.Tensor) -> None:
        opt, scaler = self.optimizers[group], self.scalers[group]
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        self.dist.average_gradients([p for pg in opt.param_groups for p in pg["params"]])
        if not scaler.is_enabled():  # fp16's scaler finds and skips overflowing gradients itself
            grads = [p.grad for pg in opt.param_groups for p in pg["params"] if p.grad is not None]
            self.grad_norms[group] = torch.nn.utils.get_total_norm(grads)
        scaler.step(opt)
        scaler.update()

    def _critic_position(self) -> tuple[int, int]:
        """(generator steps taken, critic steps taken toward the next one) after ``self.step`` iterations of
        the model's critic schedule: followed step by step, replayed from 0 after a jump (resume, rollback)."""
        if self.position[0] != self.step:
            self.position = (self.step, *critic_position(self.model.critic_steps, self.step))
        return self.position[1], self.position[2]

    def _critic_step(self, batch: dict, fakes: dict, amp) -> dict[str, torch.Tensor]:
        """One discriminator update on ``fakes`` (detached), then ``model.after_d_step``; its losses."""
        with amp:
            d = self.model.discriminator_step(batch, {k: v.detach() for k, v in fakes.items()})
        self._backward("D", d["total"])
        self.model.after_d_step()
        return {("D" if k == "total" else k): v.detach() for k, v in d.items()}

    def train_step(self, batch: dict) -> dict[str, torch.Tensor]:
        """One iteration on one batch: a critic step while the next generator step still needs one
        (``model.critic_steps(g_step)`` of them), then the generator step once they are done, so a model
        with 1 takes both on every batch and WGAN's 5 take five batches per generator step. A model with
        ``generator_first`` takes the generator step first and the critic step after it, on the same fakes
        (CycleGAN's official order: the generators meet the discriminators before this iteration's update)."""
        self.grad_norms = {}
        g_step, d_done = self._critic_position()
        need = self.model.critic_steps(g_step)
        d_now = d_done < need
        g_now = d_done + d_now >= need
        self.model.g_step = g_step
        fresh = self.model.fresh_noise_for_g and d_now  # G draws its own z: the D step's fakes need no graph
        amp = autocast(self.device, self.tc.precision)
        with amp, torch.set_grad_enabled(g_now and not fresh):
            fakes = self.model.fake(batch)
        losses = {}
        if d_now and not self.model.generator_first:
            losses.update(self._critic_step(batch, fakes, amp))
        if g_now:
            for p in self.d_params:
                p.requires_grad_(False)
            try:
                with amp:
                    if fresh:  # a new minibatch of z for the generator step (Algorithm 1 of GAN, WGAN, WGAN-GP)
                        fakes = self.model.fake(batch)
                    g = self.model.generator_step(batch, fakes)
                self._backward("G", g["total"])
            finally:
                for p in self.d_params:
                    p.requires_grad_(True)
            if self.ema:
                self.ema.update()
            losses.update({("G" if k == "total" else k): v.detach() for k, v in g.items()})
        if d_now and self.model.generator_first:  # after the generator step, on the fakes it was given (CycleGAN)
            losses.update(self._critic_step(batch, fakes, amp))
        self.position = (self.step + 1, g_step + g_now, 0 if g_now else d_done + d_now)
        return losses

    def _next_lr(self) -> None:
        with warnings.catch_warnings():  # a G optimizer that has not stepped yet (critic-first models) is expected
            warnings.simplefilter("ignore", UserWarning)
            for schedule in self.schedules:
                schedule.step()

    def iteration(self, batch: dict) -> dict[str, torch.Tensor]:
        """One iteration of the loop, as ``fit`` and ``run`` take it: ``train_step`` on ``batch`` (on the
        device already), the step counted, and the learning rate moved on to the next step's. Returns the
        losses of ``train_step``."""
        losses = self.train_step(batch)
        self.step += 1
        self._next_lr()
        return losses

    def run(self, batches: Iterable[dict], steps: int,
            on_step: Callable[[int, int, dict[str, torch.Tensor]], None] | None = None) -> None:
        """``steps`` iterations on the next ``steps`` of ``batches`` (moved to the device), each followed by
        ``on_step(step, g_steps, losses)``: the iterations taken, the generator steps taken, and the losses of
        this one. No data loader, run folder, logging, checks or checkpoints: for callers that make their own
        batches and watch the training themselves (the 2-D lab); ``fit`` is the full loop."""
        self.model.train()
        taken = 0
        for _, batch in zip(range(steps), batches):
            losses = self.iteration(to_device(batch, self.device, self.channels_last))
            taken += 1
            if on_step is not None:
                on_step(self.step, self.g_steps, losses)
        if taken < steps:
            raise ValueError(f"run: the batches ran out after {taken} of {steps} steps")

    @property
    def g_steps(self) -> int:
        """Generator steps taken in the ``step`` iterations so far (fewer than ``step`` when critic steps
        take batches of their own)."""
        return self._critic_position()[0]

    @property
    def lr(self) -> float:
        return self.optimizers["G"].param_groups[0]["lr"]

    def _log_row(self, lr: float, sums: dict, counts: dict, n_iters: int, since: float, scores: dict | None = None,
                 waited: float = 0.0) -> dict[str, Any]:
        """A metrics row: the mean of each loss since the last row (averaged over the processes), the speed (of
        all of them), and ``data_wait``, the share of the wall time since ``since`` spent waiting for batches
        (``waited`` seconds); rank 0 writes it."""
        elapsed = max(time.perf_counter() - since, 1e-9)
        row = {"step": self.step, "epoch": round(self.step / self.sampler.iters_per_epoch, 3), "lr": lr,
               "images_per_s": n_iters * self.tc.batch_size * self.dist.world_size / elapsed,
               "data_wait": min(1.0, waited / elapsed)}
        row.update({k: v.item() for k, v in self.dist.mean({k: sums[k] / counts[k] for k in sums}).items()})
        row.update(scores or {})
        if not self.dist.writer:
            return row
        self.metrics.append(row)
        self.scalars.log(row)
        self.plot_results()
        return row

    def plot_results(self, force: bool = False) -> None:
        """Redraw results.png when rows were added since the last drawing: at a log row once the last
        drawing is ``PLOT_EVERY_S`` old (a drawing takes a few tenths of a second), always with ``force``."""
        if not self.dist.writer or len(self.metrics.rows) == self.plotted_rows or not force and time.perf_counter() - self.plotted_at < self.PLOT_EVERY_S:
            return
        plots.write_results(self.run_dir, self.metrics)
        self.plotted_rows, self.plotted_at = len(self.metrics.rows), time.perf_counter()

    # -- numerical faults ------------------------------------------------------------------------
    def _watch(self, values: dict[str, torch.Tensor]) -> None:
        """Note on the device, without waiting for it, the first step at which each value was not finite."""
        for name, value in values.items():
            bad_at = torch.where(torch.isfinite(value), NEVER, self.step)
            seen = self.first_bad.get(name)
            self.first_bad[name] = bad_at if seen is None else torch.minimum(seen, bad_at)

    def _faults(self) -> tuple[int, list[str]]:
        """The first step at which a loss, a gradient or (now) a weight was not finite since the last check,
        and the names of what was (the weights only when nothing else was): one wait for the device. (0, [])
        when all is finite."""
        self._watch({"weights": torch.nn.utils.get_total_norm(list(self.model.parameters()))})
        names, steps = list(self.first_bad), self.dist.minimum(torch.stack(list(self.first_bad.values()))).tolist()
        self.first_bad = {}
        first = min(steps)
        bad = [n for n, at in zip(names, steps) if at == first]
        return (0, []) if first == NEVER else (first, [n for n in bad if n != "weights"] or bad)

    def _rolled_back(self) -> bool:
        """Check for non-finite values (at log rows and before every sample grid and checkpoint, so that no
        checkpoint ever holds them). On one, go back to the last good checkpoint (a new run without one: to
        its start) with the learning rate halved and return True; raise DivergedError when ``on_nan`` is
        stop or ``nan_retries`` rollbacks have been made."""
        step, names = self._faults()
        if not names:
            return False
        what = f"{', '.join(names)} {'is' if len(names) == 1 else 'are'} not finite at step {step}"
        if self.tc.on_nan == "stop" or self.rollbacks >= self.tc.nan_retries:
            self.plot_results(force=True)
            why = "{on_nan} stop" if self.tc.on_nan == "stop" else f"after {self.rollbacks} rollbacks, {{nan_retries}} {self.tc.nan_retries}"
            kept = "no checkpoint was written" if self.saved_step is None else f"checkpoints/last.pt holds step {self.saved_step}"
            fp32 = "" if self.tc.precision == "fp32" else " or {precision} fp32"
            raise DivergedError(f"{{what}}; stopped ({why}); {kept}; try a lower {{lr}}{fp32}",
                                "on_nan", "nan_retries", "lr", "precision", what=what)
        self.rollbacks += 1
        scale = self.lr_scale * 0.5
        if self.saved_step is None:
            self._load_state(torch.load(io.BytesIO(self.initial_state), map_location="cpu", weights_only=True))
            self.saved_step = None
        else:
            self._load_state(self.dist.from_rank0(lambda: run_folder.load_checkpoint(self.run_dir)))
        self.lr_scale = scale
        self._build_schedules()
        self.sampler.start = self.step
        log.warning("%s; rolled back to step %d with the learning rate scaled by %g (rollback %d of %d)",
                    what, self.step, scale, self.rollbacks, self.tc.nan_retries)
        return True

    def _out_of_memory(self, exc: BaseException) -> OutOfMemory:
        tried = re.search(r"[Tt]ried to allocate ([\d.]+ \w+)", str(exc))
        detail = f" (tried to allocate {tried.group(1)})" if tried else ""
        return OutOfMemory("out of memory on {device} at step {step}{detail}; use a smaller {batch_size} (now {b}) or "
                           "{crop_size} (now {c}), or {precision} bf16 or fp16 (now {p})", "batch_size", "crop_size", "precision",
                           device=self.device, step=self.step + 1, detail=detail, b=self.tc.batch_size,
                           c=self.cfg.data.crop_size, p=self.tc.precision)

    # -- the loop -------------------------------------------------------------------------------
    def fit(self) -> dict[str, Any]:
        """Train to the end of the schedule (or a stop) and return a summary; the device running out of
        memory raises OutOfMemory naming the arguments that need less."""
        try:
            return self._fit()
        except torch.OutOfMemoryError as exc:
            raise self._out_of_memory(exc) from None

    def _fit(self) -> dict[str, Any]:
        workers = self.cfg.data.workers if self.cfg.data.workers >= 0 else default_workers(self.device.type)
        loader = batch_loader(self.dataset, self.sampler, workers, self.device.type, self.tc.seed)
        self.model.train()
        start_step = self.step
        sums: dict[str, torch.Tensor] = {}
        counts: dict[str, int] = {}
        t_log, n_log, lr = time.perf_counter(), 0, self.lr
        waited = 0.0  # seconds spent waiting for batches since the last log row
        last_row: dict[str, Any] = {}
        bar = TrainProgress(self.progress, self.total, self.step, self.tc.batch_size)
        stopped, reason = False, ""
        deadline = time.perf_counter() + 60 * self.tc.time_limit if self.tc.time_limit > 0 else math.inf
        if self.saved_step is None and self.tc.on_nan == "rollback" and self.tc.nan_retries > 0:
            buf = io.BytesIO()  # the state a fault before the first checkpoint goes back to, off the device
            torch.save(self.state_dict(), buf)
            self.initial_state = buf.getvalue()
        logger = self.tc.logger if self.dist.writer else "none"
        with StopFlag() as flag, bar, ScalarLogger(logger, self.run_dir, self.step) as self.scalars, \
                read_batches(loader) as batches:
            while self.step < self.total:
                out_of_time = time.perf_counter() >= deadline
                if self.dist.any(flag.stop or out_of_time):  # every process stops at the same iteration
                    stopped, reason = True, "" if flag.stop else "time_limit"
                    break
                lr = self.lr
                t_wait = time.perf_counter()
                batch = to_device(next(batches), self.device, self.channels_last)
                waited += time.perf_counter() - t_wait
                losses = self.iteration(batch)
                self._watch({**{f"loss {k}": v for k, v in losses.items()},
                             **{f"gradients of {g}": norm for g, norm in self.grad_norms.items()}})
                n_log += 1
                for k, v in losses.items():
                    sums[k] = sums[k] + v if k in sums else v.float().clone()
                    counts[k] = counts.get(k, 0) + 1
                last = self.step == self.total
                log_now = self.step % self.tc.log_every == 0 or last
                sample_now = self.step % self.tc.sample_every == 0 and not last
                save_now = self.step % self.tc.checkpoint_every == 0 and not last
                eval_now = self.evaluator is not None and self.tc.eval_every > 0 and self.step % self.tc.eval_every == 0
                if (log_now or sample_now or save_now or eval_now) and self._rolled_back():
                    sums, counts, t_log, n_log, waited = {}, {}, time.perf_counter(), 0, 0.0
                    batches.restart()  # the sampler starts again at the step rolled back to
                    bar.advance(self.step)
                    continue
                scores = self.evaluate() if eval_now else {}
                if scores and not log_now:  # a row of its own, between two log rows
                    self.metrics.append({"step": self.step, **scores})
                if log_now:
                    last_row = self._log_row(lr, sums, counts, n_log, t_log, scores, waited)
                    bar.update(self.step, last_row)
                    sums, counts, t_log, n_log, waited = {}, {}, time.perf_counter(), 0, 0.0
                else:
                    bar.advance(self.step)
                if sample_now:
                    self.write_samples()
                if save_now:
                    self.save_checkpoint()
            if n_log and not self._rolled_back():  # stopped between two log rows: log what ran since the last one
                last_row = self._log_row(lr, sums, counts, n_log, t_log, waited=waited)
        self.plot_results(force=True)
        sample = self.write_samples()
        ckpt = self.save_checkpoint()
        weights = self.run_dir / run_folder.WEIGHTS
        if not self.dist.writer:
            return {"run_dir": self.run_dir, "step": self.step, "steps_run": self.step - start_step, "total": self.total,
                    "stopped": stopped, "reason": reason, "last": last_row, "rank": self.dist.rank}
        return {"run_dir": self.run_dir, "step": self.step, "steps_run": self.step - start_step, "total": self.total,
                "stopped": stopped, "reason": reason, "last": last_row, "sample": sample, "results": self.run_dir / run_folder.RESULTS,
                "checkpoint": ckpt, "weights": weights, "best": self.best,
                "checkpoint_bytes": ckpt.stat().st_size, "weights_bytes": weights.stat().st_size}
