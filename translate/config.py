"""Run configuration: frozen dataclasses, merged in one order and saved as YAML.

Precedence, lowest first: dataclass defaults < the model's defaults < ``--config run.yaml`` < flags.
Unknown keys are rejected with a suggestion, so a typo never silently does nothing.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

import yaml

from translate.errors import ArgumentError, UserError
from translate.files import atomic_write_text

PREPROCESS = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none")
LR_POLICIES = ("linear", "linear_epochs", "constant", "step", "cosine")
PRECISIONS = ("fp32", "bf16", "fp16")
LAYOUTS = ("paired", "unpaired", "labelled", "images", "toy")
LOGGERS = ("none", "tensorboard")
ON_NAN = ("rollback", "stop")


@dataclass(frozen=True)
class DataConfig:
    root: str = ""
    layout: str = "paired"  # paired | unpaired | labelled | images | toy
    direction: str = "AtoB"  # AtoB | BtoA
    preprocess: str = "resize_and_crop"
    load_size: int = 286
    crop_size: int = 256
    flip: bool = True
    input_nc: int = 3
    output_nc: int = 3
    workers: int = -1  # loader processes; 0: a read-ahead thread; -1: 0 on CPU, min(8, cores) on GPU


@dataclass(frozen=True)
class TrainConfig:
    steps: int | None = None  # total iterations; overrides epochs when set
    steps_decay: int = 0  # with --steps: the last N iterations decay linearly to 0
    epochs: int = 100  # epochs at the initial learning rate (official n_epochs)
    epochs_decay: int = 100  # epochs of linear decay to 0 afterwards (official n_epochs_decay)
    # linear: constant, then down to 0 at every iteration | linear_epochs: constant, then down at every epoch
    # to 1/(decay epochs + 1), as the official pix2pix/CycleGAN code | constant | step | cosine
    lr_policy: str = "linear"
    lr_step_every: int = 50  # epochs, for the step policy (official lr_decay_iters)
    batch_size: int = 1
    device: str = "auto"
    precision: str = "fp32"
    seed: int = 0
    ema: float = 0.0  # decay of an exponential moving average of the generator; 0 disables
    log_every: int = 50
    sample_every: int = 500
    checkpoint_every: int = 1000
    keep_checkpoints: int = 0  # besides last.pt and previous.pt: the newest N step_XXXXXXXX.pt (hard links)
    num_samples: int = 4
    channels_last: bool | None = None  # None: on for CUDA (faster convolutions), off on CPU (batch norm is slow in it)
    # CPU only: run weight-bound convolutions as a plain GEMM on the stored weights (translate.nn.layers)
    cpu_gemm: bool = True
    # CPU only: keep freed activation buffers in the process heap (glibc), so a step does not page-fault
    # its working memory back in; it changes the allocator of the whole process
    cpu_allocator: bool = True
    threads: int = 0  # torch's intra-op CPU threads (torch.set_num_threads, process-wide); 0: torch's default
    # torch.compile the networks (in place: checkpoints keep the plain keys); a compiler that is missing or
    # fails gives a warning and an uncompiled run
    compile: bool = False
    logger: str = "none"  # none | tensorboard: the metrics rows also as TensorBoard scalars under RUN/tensorboard/
    # a non-finite loss, gradient or weight: roll back to the last good checkpoint with half the learning
    # rate (at most nan_retries times per process), or stop with DivergedError
    on_nan: str = "rollback"  # rollback | stop
    nan_retries: int = 3
    # every eval_every iterations (0: never) score the generator on at most eval_count images of the folder
    # eval_data (paired: L1, PSNR, SSIM and FID when the Inception weights load; other runs: FID) and keep
    # the best weights as checkpoints/best.pt and generator_best.pt
    eval_every: int = 0
    eval_data: str = ""
    eval_count: int = 50


@dataclass(frozen=True)
class RunConfig:
    name: str = ""
    runs_dir: str = "runs"


def options_dict(opts: Any) -> dict[str, Any]:
    """Model options as a plain dict, from a mapping or from a model's typed Config."""
    return dataclasses.asdict(opts) if dataclasses.is_dataclass(opts) else dict(opts or {})


@dataclass(frozen=True)
class Config:
    model: str = "pix2pix"
    # the model's options: a mapping of overrides until ``api.resolve_config`` replaces it with the
    # model's own typed, validated Config dataclass, which the model is then built from
    model_opts: Any = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["model_opts"] = options_dict(self.model_opts)
        return out


SECTIONS = {"data": DataConfig, "train": TrainConfig, "run": RunConfig}


def _suggest(key: str, choices) -> str:
    close = difflib.get_close_matches(key, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def coerce(value: Any, default: Any, key: str) -> Any:
    """``value`` as the type of the field's default: YAML reads ``1e-3`` as a string, and flags arrive as text."""
    if default is None or value is None or isinstance(default, (dict, list, tuple)):
        return value
    kind = type(default)
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    try:
        if kind is bool:
            if isinstance(value, str) and value.lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
                return value.lower() in ("true", "yes", "on", "1")
            raise ValueError
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
        return kind(float(value)) if kind is int else kind(value)
    except (TypeError, ValueError):
        raise UserError(f"'{key}' must be {kind.__name__}, not {value!r}") from None


def coerce_fields(cls, values: Mapping[str, Any], where: str) -> dict[str, Any]:
    defaults = {f.name: getattr(cls(), f.name) for f in fields(cls)}
    return {k: coerce(v, defaults[k], f"{where}.{k}" if where else k) for k, v in values.items()}


def check_keys(given: Mapping[str, Any], allowed, where: str) -> None:
    names = [f.name for f in fields(allowed)] if dataclasses.is_dataclass(allowed) else list(allowed)
    for key in given:
        if key not in names:
            raise UserError(f"unknown key '{key}' in {where}{_suggest(key, names)}; known keys: {', '.join(names)}")


def merge(base: Config, overrides: Mapping[str, Any], where: str = "overrides") -> Config:
    """Return ``base`` with the nested ``overrides`` applied; unknown keys raise UserError."""
    check_keys(overrides, ["model", "model_opts", *SECTIONS], where)
    changes: dict[str, Any] = {}
    if "model" in overrides:
        changes["model"] = overrides["model"]
    if "model_opts" in overrides:
        changes["model_opts"] = {**options_dict(base.model_opts), **(overrides["model_opts"] or {})}
    for name, cls in SECTIONS.items():
        if overrides.get(name):
            section = overrides[name]
            if not isinstance(section, Mapping):
                raise UserError(f"'{name}' in {where} must be a mapping of keys to values")
            check_keys(section, cls, f"{where} [{name}]")
            changes[name] = dataclasses.replace(getattr(base, name), **coerce_fields(cls, section, name))
    return dataclasses.replace(base, **changes)


def validate(cfg: Config) -> None:
    def one_of(value, choices, arg):
        if value not in choices:
            raise ArgumentError("{%s} must be one of {choices}, not '{value}'" % arg, arg, choices=", ".join(choices), value=value)

    one_of(cfg.data.preprocess, PREPROCESS, "preprocess")
    one_of(cfg.data.direction, ("AtoB", "BtoA"), "direction")
    one_of(cfg.train.lr_policy, LR_POLICIES, "lr_policy")
    one_of(cfg.train.precision, PRECISIONS, "precision")
    one_of(cfg.train.logger, LOGGERS, "logger")
    one_of(cfg.train.on_nan, ON_NAN, "on_nan")
    if cfg.data.layout not in LAYOUTS:
        raise UserError(f"data.layout must be one of {', '.join(LAYOUTS)}, not '{cfg.data.layout}'")
    if cfg.data.crop_size < 8 or cfg.data.load_size < cfg.data.crop_size and cfg.data.preprocess in ("resize_and_crop", "scale_width_and_crop"):
        raise ArgumentError(f"{{load_size}} ({cfg.data.load_size}) must be >= {{crop_size}} ({cfg.data.crop_size}) and crop size >= 8",
                            "load_size", "crop_size")
    if cfg.train.batch_size < 1:
        raise ArgumentError("{batch_size} must be at least 1", "batch_size")
    if cfg.train.steps is not None and cfg.train.steps < 1:
        raise ArgumentError("{steps} must be at least 1", "steps")
    if cfg.train.keep_checkpoints < 0:
        raise ArgumentError("{keep_checkpoints} must be 0 or more", "keep_checkpoints")
    if cfg.train.threads < 0:
        raise ArgumentError("{threads} must be 0 (torch's default) or more", "threads")
    if cfg.train.nan_retries < 0:
        raise ArgumentError("{nan_retries} must be 0 or more", "nan_retries")
    if cfg.train.eval_every < 0:
        raise ArgumentError("{eval_every} must be 0 (no evaluation) or more", "eval_every")
    if cfg.train.eval_every and not cfg.train.eval_data:
        raise ArgumentError("{eval_every} needs {eval_data}: the folder to score the generator on", "eval_every", "eval_data")
    if cfg.train.eval_count < 2:
        raise ArgumentError("{eval_count} must be at least 2", "eval_count")
    if not 0.0 <= cfg.train.ema < 1.0:
        raise ArgumentError("{ema} must be in [0, 1): the decay of the moving average, e.g. 0.999", "ema")


def save_yaml(cfg: Config, path: Path) -> None:
    atomic_write_text(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def load_yaml(path: Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: config file not found; pass an existing YAML file")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML ({str(exc).splitlines()[0]}); fix the syntax") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping at the top level")
    return data


def from_dict(data: Mapping[str, Any], where: str = "config") -> Config:
    return merge(Config(), data, where)


def diff_lines(cfg: Config, reference: Config) -> list[str]:
    """The resolved config as 'section.key: value' lines, changed values marked with '*'."""
    lines = []
    cur, ref = cfg.to_dict(), reference.to_dict()
    for section, values in cur.items():
        if not isinstance(values, dict):
            mark = "*" if values != ref.get(section) else " "
            lines.append(f"{mark} {section}: {values}")
            continue
        for key, value in values.items():
            mark = "*" if ref.get(section, {}).get(key, object()) != value else " "
            lines.append(f"{mark} {section}.{key}: {value}")
    return lines
