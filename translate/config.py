"""Run configuration: frozen dataclasses, merged in one order and saved as YAML.

Precedence, lowest first: dataclass defaults < the model's defaults < its paper's settings (with ``train.paper``)
< ``--config run.yaml`` < flags.
Unknown keys are rejected with a suggestion, so a typo never silently does nothing.

Every option is described once, on its field (``option(default, help, ...)``): its help, the spelling of
its flag where that is not the field's name, the help panel it is listed in, its choices and whether a
resumed run may change it. The command line's options, the resume rule, ``translate models NAME``, the
options reference of the docs and the comments of a run's ``config.yaml`` are all derived from it. Help
texts name other options as ``{field_name}``, which each reader spells its own way (the CLI as a flag).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from translate.errors import ArgumentError, UserError
from translate.files import atomic_write_text


@dataclass(frozen=True)
class Option:
    """What a config field says about itself."""

    help: str = ""
    # the flag's name where it is not the field's (``netG`` for net_g; a bool field is an on/off pair of
    # flags); None: no flag (config files and the API only)
    flag: str | None = ""
    panel: str = ""  # the group of the help it is listed in
    resumable: bool = False  # a resumed run may change it (its length, logging and hardware; never data or model)
    choices: tuple[str, ...] = ()
    short: str = ""  # a one-letter flag besides the long one


def option(default: Any = dataclasses.MISSING, help: str = "", *, flag: str | None = "", panel: str = "", resumable: bool = False,
           choices: tuple[str, ...] = (), short: str = "") -> Any:
    """A dataclass field that describes itself (see ``Option``)."""
    return field(default=default, metadata={"option": Option(help, flag, panel, resumable, tuple(choices), short)})


def option_of(f: dataclasses.Field) -> Option:
    """What field ``f`` says of itself; a model option without its own help has the shared description of
    its name (``SharedModelOptions``); a field that says nothing has no flag."""
    own = f.metadata.get("option")
    if own is not None and own.help:
        return own
    if f.name in _SHARED:
        return _SHARED[f.name]
    return own or Option(flag=None)


def help_text(opt: Option, spell: Callable[[str], str] = str) -> str:
    """The option's help with the options it names (``{eval_data}``) spelled by ``spell``."""
    return re.sub(r"\{([a-z_][a-z0-9_]*)\}", lambda m: spell(m.group(1)), opt.help)  # other braces stay as written


PREPROCESS = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none")
LR_POLICIES = ("linear", "linear_epochs", "constant", "step", "cosine")
PRECISIONS = ("fp32", "bf16", "fp16")
LAYOUTS = ("paired", "unpaired", "labelled", "images", "toy")
LOGGERS = ("none", "tensorboard")
ON_NAN = ("rollback", "stop")
AUGMENTS = ("none", "diff")
AUGMENT_WORDS = ("color", "translation", "cutout")  # the transforms of translate.nn.augment


@dataclass(frozen=True)
class DataConfig:
    root: str = option("", "the dataset folder (set by the layout's flag)", flag=None)
    layout: str = option("paired", "how the folder is organised: " + " | ".join(LAYOUTS), flag=None)
    direction: str = option("AtoB", "AtoB | BtoA: which half is the input.", panel="Data", choices=("AtoB", "BtoA"))
    preprocess: str = option("resize_and_crop", "resize_and_crop | crop | scale_width | scale_width_and_crop | none.", panel="Data",
                             choices=PREPROCESS)
    load_size: int = option(286, "Resize to this before cropping.", panel="Data")
    crop_size: int = option(256, "Training crop size.", panel="Data")
    flip: bool = option(True, "Random horizontal flips of the training images.", panel="Data")
    input_nc: int = option(3, "Input channels: 3 (RGB) or 1 (grayscale).", panel="Data")
    output_nc: int = option(3, "Output channels: 3 or 1.", panel="Data")
    workers: int = option(-1, "Data loader processes; 0 reads batches ahead in a thread of the training process; -1: 0 on CPU, "
                              "up to 8 on GPU.", panel="Data", resumable=True)


@dataclass(frozen=True)
class TrainConfig:
    steps: int | None = option(None, "Total iterations (overrides {epochs}).", panel="Schedule", resumable=True)
    steps_decay: int = option(0, "With {steps}: the last N iterations decay the learning rate (see {lr_policy}).", panel="Schedule",
                              resumable=True)
    epochs: int = option(100, "Epochs at the initial learning rate (the official n_epochs).", panel="Schedule", resumable=True)
    epochs_decay: int = option(100, "Epochs of linear decay to 0 after {epochs} (the official n_epochs_decay).", panel="Schedule",
                               resumable=True)
    lr_policy: str = option("linear", "linear (to 0, every iteration) | linear_epochs (to 1/(decay epochs + 1), every epoch: the "
                                      "official code) | constant | step | cosine.", panel="Schedule", choices=LR_POLICIES)
    lr_step_every: int = option(50, "epochs between the step policy's halvings (the official lr_decay_iters)", flag=None)
    batch_size: int = option(1, "Images per iteration.", panel="Schedule", short="b")
    time_limit: float = option(0.0, "Stop after this many minutes of training in this process, with a checkpoint (the "
                                    "schedule stays that of {steps} or {epochs}; a resume goes on from there); 0: no limit.",
                               panel="Schedule", resumable=True)
    seed: int = option(0, "Random seed.", panel="Run")
    paper: bool = option(False, "Train with the settings of the model's paper and official code where its defaults depart "
                                "from them (each model's description lists them); other options still apply over them.",
                         panel="Model")
    augment: str = option("none", "none | diff: DiffAugment (Zhao et al. 2020): every image a discriminator sees, real and "
                                  "fake, in its step and the generator's, goes through the random differentiable transforms "
                                  "of {augment_policy}.", panel="Augmentation", choices=AUGMENTS)
    augment_policy: str = option("color,translation,cutout", "With {augment} diff: its transforms, any comma-separated of "
                                 "color (brightness, saturation, contrast), translation (up to 1/8 of the size, zero fill), "
                                 "cutout (a half-size square set to 0).", panel="Augmentation")
    ema: float = option(0.0, "Keep an exponential moving average of the generator with this decay (e.g. 0.999; 0: none); "
                             "samples and weights use it.", panel="Run")
    ema_every: int = option(4, "Average every Nth generator step into {ema}, with the decay raised to the power N (the "
                               "average spans as many steps at an Nth of the cost: at 4, about 1% of a pix2pix 256 step on "
                               "CPU).", panel="Run")
    log_every: int = option(50, "Iterations per metrics row.", panel="Run", resumable=True)
    sample_every: int = option(500, "Iterations per sample grid.", panel="Run", resumable=True)
    checkpoint_every: int = option(1000, "Iterations per checkpoint.", panel="Run", resumable=True)
    keep_checkpoints: int = option(0, "Also keep the newest N full checkpoints as checkpoints/step_N.pt (hard links: no extra "
                                      "space where the disk allows) besides last.pt and previous.pt.", panel="Run", resumable=True)
    keep_previous: bool = option(True, "Keep the state before last.pt as checkpoints/previous.pt, so that a crash while last.pt "
                                       "is written leaves a whole state to resume from; off: one full state (half the disk).",
                                 panel="Run", resumable=True)
    num_samples: int = option(4, "images in each sample grid", flag=None)
    channels_last: bool | None = option(None, "channels-last memory format; None: on for CUDA (faster convolutions), off on "
                                              "CPU (batch norm is slow in it)", flag=None)
    device: str = option("auto", "auto | cpu | cuda | cuda:N | mps.", panel="Hardware", resumable=True)
    precision: str = option("fp32", "fp32 | bf16 | fp16 (autocast; fp16 adds a gradient scaler).", panel="Hardware", choices=PRECISIONS)
    cpu_gemm: bool = option(True, "CPU: run weight-bound convolutions as a plain GEMM on the stored weights (same "
                                  "arithmetic, faster).", panel="Hardware", resumable=True)
    cpu_allocator: bool = option(True, "CPU: keep freed activations in the process heap (glibc) instead of returning them to "
                                       "the OS, so a step does not page-fault its working memory back in.", panel="Hardware",
                                 resumable=True)
    threads: int = option(0, "CPU threads torch uses (torch.set_num_threads, process-wide); 0: torch's own choice.",
                          panel="Hardware", resumable=True)
    compile: bool = option(False, "torch.compile the networks (slow first iterations, then faster steps; checkpoints stay "
                                  "plain); falls back to uncompiled with a note where the compiler is missing.",
                           panel="Hardware", resumable=True)
    logger: str = option("none", "none | tensorboard: also log the metrics to RUN/tensorboard/ (needs the tensorboard "
                                 "package).", panel="Run", resumable=True, choices=LOGGERS)
    on_nan: str = option("rollback", "rollback | stop: when a loss, gradient or weight turns NaN or Inf, go back to the last "
                                     "good checkpoint with half the learning rate, or stop the run.", panel="Run",
                         resumable=True, choices=ON_NAN)
    nan_retries: int = option(3, "With {on_nan} rollback: stop the run after this many rollbacks.", panel="Run", resumable=True)
    eval_every: int = option(0, "Every N iterations score the generator on {eval_data} (paired runs: L1, PSNR, SSIM and FID "
                                "when the Inception weights are installed; other runs: FID, which needs them), write the "
                                "scores to metrics.csv and keep the best weights as generator_best.pt (and the whole state with "
                                "{best_state}); 0: never.", panel="Evaluation")
    eval_data: str = option("", "With {eval_every}: a folder of the training data's layout (paired pairs; unpaired testA/ "
                                "and testB/; real images for sampling runs).", panel="Evaluation")
    best_state: bool = option(False, "With {eval_every}: also keep the whole state that scored best (as large as last.pt) as "
                                     "checkpoints/best.pt; off: only its weights, generator_best.pt.", panel="Evaluation",
                              resumable=True)
    eval_count: int = option(50, "With {eval_every}: score on at most N images of {eval_data}.", panel="Evaluation")


@dataclass(frozen=True)
class RunConfig:
    name: str = option("", "Run name; empty: the model's name. An existing name gets a -2, -3 suffix.", panel="Run")
    runs_dir: str = option("runs", "Where run folders go.", panel="Run")


@dataclass(frozen=True)
class SharedModelOptions:
    """Options many models have, described once here. A model's Config declares the ones it has with its
    own defaults (``ngf: int = 64``), with its own help where its meaning is its own; those with a flag are
    flags of ``translate fit``, refused for a model that lacks them."""

    net_g: str = option("auto", "Generator architecture, e.g. unet_256, unet_128 (pix2pix), resnet_9blocks (cyclegan).",
                        flag="netG", panel="Model")
    ngf: int = option(64, "Generator filters in the first layer.", panel="Model")
    ndf: int = option(64, "Discriminator filters in the first layer.", panel="Model")
    n_layers_d: int = option(3, "PatchGAN depth: 3 gives the 70x70 receptive field", flag=None)
    norm: str = option("batch", "batch | instance | none.", panel="Model")
    dropout: bool = option(True, "dropout 0.5 in the generator", flag=None)
    gan_mode: str = option("vanilla", "vanilla | lsgan | hinge | wgan.", panel="Model")
    lambda_l1: float = option(100.0, "Weight of the L1 loss.", panel="Model")
    d_steps: int = option(1, "Discriminator (critic) steps per generator step.", panel="Model")
    lr: float = option(2e-4, "Learning rate of every optimizer.", panel="Model")
    beta1: float = option(0.5, "Adam beta1.", panel="Model")
    beta2: float = option(0.999, "Adam beta2", flag=None)
    init_gain: float = option(0.02, "weights initialised N(0, init_gain)", flag=None)


_SHARED = {f.name: f.metadata["option"] for f in fields(SharedModelOptions)}


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


def resumable() -> dict[str, tuple[str, ...]]:
    """What a resumed run may change, by section: its length and schedule, how often it logs, samples and
    checkpoints, and the hardware it runs on. Everything else (data, model, sizes, seed, precision) is the run's own."""
    may = {s: tuple(f.name for f in fields(SECTIONS[s]) if option_of(f).resumable) for s in ("train", "data", "run")}
    return {s: names for s, names in may.items() if names}


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


def _choice(value: Any, choices: tuple[str, ...]) -> Any:
    """A choice in any case as the choice's own spelling (``btoa`` -> ``BtoA``); other values unchanged."""
    if isinstance(value, str):
        return next((c for c in choices if c.lower() == value.lower()), value)
    return value


def coerce_fields(cls, values: Mapping[str, Any], where: str) -> dict[str, Any]:
    described = {f.name: f for f in fields(cls)}
    defaults = {name: getattr(cls(), name) for name in described}
    return {k: _choice(coerce(v, defaults[k], f"{where}.{k}" if where else k), option_of(described[k]).choices)
            for k, v in values.items()}


def check_keys(given: Mapping[str, Any], allowed, where: str) -> None:
    names = [f.name for f in fields(allowed)] if dataclasses.is_dataclass(allowed) else list(allowed)
    for key in given:
        if key not in names:
            raise UserError(f"unknown key '{key}' in {where}{_suggest(key, names)}; known keys: {', '.join(names)}")


def check_options(options: Mapping[str, Any]) -> None:
    """Options given as a nested mapping (``{"data": {"crop_size": 64}}``, as the API takes them): an unknown
    name raises UserError naming it with the closest known one, a known one outside its section says where it goes."""
    names = {section: [f.name for f in fields(cls)] for section, cls in SECTIONS.items()}
    for key, value in options.items():
        if key in ("model", "model_opts"):
            continue
        if key not in SECTIONS:
            home = next((section for section, known in names.items() if key in known), None)
            if home:
                raise UserError(f"option '{key}' belongs to '{home}': pass {{'{home}': {{'{key}': ...}}}}")
            every = [*SECTIONS, "model", "model_opts", *(n for known in names.values() for n in known)]
            raise UserError(f"unknown option '{key}'{_suggest(key, every)}")
        for name in value if isinstance(value, Mapping) else ():
            if name not in names[key]:
                raise UserError(f"unknown option '{name}'{_suggest(name, names[key])}; the options of '{key}': "
                                f"{', '.join(names[key])}")


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

    for section in (cfg.data, cfg.train):
        for f in fields(section):
            if option_of(f).choices:
                one_of(getattr(section, f.name), option_of(f).choices, f.name)
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
    words = [w.strip().lower() for w in cfg.train.augment_policy.split(",")]
    if not all(w in AUGMENT_WORDS for w in words):
        bad = next(w for w in words if w not in AUGMENT_WORDS)
        raise ArgumentError("{augment_policy} must be comma-separated words of {choices}, not '{value}'", "augment_policy",
                            choices=", ".join(AUGMENT_WORDS), value=bad)
    if cfg.train.ema_every < 1:
        raise ArgumentError("{ema_every} must be 1 or more: the generator steps per update of the moving average", "ema_every")


def _yaml_line(key: str, value: Any, comment: str, indent: str = "") -> str:
    text = yaml.safe_dump({key: value}, default_flow_style=True, width=10**9, sort_keys=False).strip()[1:-1]
    comment = " ".join(comment.split())
    return f"{indent}{text}" + (f"  # {comment}" if comment else "")


def to_yaml(cfg: Config) -> str:
    """``cfg`` as YAML whose every key carries its option's help as a comment (``load_yaml`` reads it back)."""
    lines = ["# the run's configuration, each key with its option's help; training from this file again replays the run",
             _yaml_line("model", cfg.model, "")]
    opts = cfg.model_opts
    described = {f.name: f for f in fields(opts)} if dataclasses.is_dataclass(opts) else {}
    sections = [("model_opts", options_dict(opts), described)] + [(n, dataclasses.asdict(getattr(cfg, n)), {f.name: f for f in fields(c)})
                                                                  for n, c in SECTIONS.items()]
    for name, values, known in sections:
        lines.append(f"{name}:" + ("" if values else " {}"))
        for key, value in values.items():
            lines.append(_yaml_line(key, value, help_text(option_of(known[key])) if key in known else "", "  "))
    return "\n".join(lines) + "\n"


def save_yaml(cfg: Config, path: Path) -> None:
    atomic_write_text(path, to_yaml(cfg))


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
