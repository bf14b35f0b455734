"""What the CLI and notebooks call: resolve_config, fit, resume, load_run."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import warnings
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from translate import config as C
from translate import evaluate, pretrained
from translate.data import build_dataset
from translate.data.image_files import scan_images
from translate.engine import distributed, run_folder, scalars
from translate.engine.hardware import resolve_device, seed_everything
from translate.engine.trainer import Trainer, model_summary
from translate.errors import ArgumentError, ArgumentWarning, UserError
from translate.files import atomic_write_text, safe_load
from translate.nn import official
from translate.nn.layers import check_mode, set_mode
from translate.registry import create_model, get_model_class, model_config
from translate.types import DataInfo

log = logging.getLogger("translate")
DEFAULT_MODEL = {"paired": "pix2pix", "unpaired": "cyclegan", "labelled": "cgan", "images": "gan", "toy": "gan"}


def model_defaults(name: str, paper: bool = False) -> C.Config:
    """Dataclass defaults with the model's own defaults applied: the reference for 'changed'. ``paper``: then
    the model's ``paper_settings`` (where its defaults depart from its paper and official code) over them."""
    cls = get_model_class(name)
    cfg = C.merge(C.Config(model=name), dict(cls.defaults), f"model '{name}' defaults")
    if not paper:
        return cfg
    settings = dict(cls.paper_settings)
    return C.merge(cfg, {**settings, "train": {**settings.get("train", {}), "paper": True}}, f"model '{name}' paper settings")


def _with_earlier_defaults(saved: dict[str, Any], always: bool) -> dict[str, Any]:
    """``saved`` (a config.yaml's contents) with its model's ``earlier_defaults`` filled in where it lacks them: for
    a run folder's own config (``always``), and for a config file that holds every other option of its model, as a
    run saved by an older version does (a file written by hand, holding some options, takes today's defaults)."""
    cls = get_model_class(str(saved.get("model") or C.Config.model))
    opts = saved.get("model_opts")
    earlier = cls.earlier_defaults
    if not earlier or not isinstance(opts, Mapping):
        return saved
    others = {f.name for f in dataclasses.fields(cls.Config)} - set(earlier)
    if always or others <= set(opts):
        return {**saved, "model_opts": {**earlier, **opts}}
    return saved


def _paper(*sources: Mapping[str, Any]) -> bool:
    """The ``train.paper`` of the first of ``sources`` (flags, then a config file) that sets it."""
    for source in sources:
        train = source.get("train") or {}
        if isinstance(train, Mapping) and train.get("paper") is not None:
            return C.coerce(train["paper"], False, "train.paper")
    return False


def resolve_config(flags: Mapping[str, Any], config_file: str | Path | None = None) -> C.Config:
    """Dataclass defaults < model defaults < the model's paper settings (with ``train.paper``) < YAML file < flags
    (all nested dicts)."""
    C.check_options(flags)
    from_file = _with_earlier_defaults(C.load_yaml(Path(config_file)), always=False) if config_file else {}
    layout = (flags.get("data") or {}).get("layout") or (from_file.get("data") or {}).get("layout") or "paired"
    name = flags.get("model") or from_file.get("model") or DEFAULT_MODEL.get(layout, "pix2pix")
    cfg = model_defaults(name, _paper(flags, from_file))
    if from_file:
        cfg = C.merge(cfg, from_file, str(config_file))
    cfg = C.merge(cfg, {**flags, "model": name}, "flags")
    return _typed(cfg)


def _typed(cfg: C.Config) -> C.Config:
    """``cfg`` validated, with its model options built once into the model's typed Config."""
    C.validate(cfg)
    return dataclasses.replace(cfg, model_opts=model_config(cfg.model, cfg.model_opts))


def describe(cfg: C.Config) -> list[str]:
    """The resolved config, one 'key: value' a line, with '*' on values changed from the model's defaults (with
    ``train.paper``: from its paper's settings)."""
    ref = model_defaults(cfg.model, cfg.train.paper)
    lines = [ln for ln in C.diff_lines(cfg, ref) if not ln[2:].startswith("model_opts")]
    full, base = cfg.model_opts, model_config(cfg.model, ref.model_opts)
    for f in dataclasses.fields(full):
        value = getattr(full, f.name)
        lines.append(f"{'*' if value != getattr(base, f.name) else ' '} model.{f.name}: {value}")
    return lines


@contextmanager
def _run_log(run_dir: Path | None, writer: bool = True) -> Iterator[None]:
    """The run's log.txt gets the package's INFO messages while the block runs, even when the caller has
    not configured logging (a notebook); the logger's level is restored afterwards. Not ``writer`` (a
    process other than rank 0 of a distributed run): no file, and only errors are logged."""
    if not writer:
        level = log.level
        log.setLevel(logging.ERROR)
        try:
            yield
        finally:
            log.setLevel(level)
        return
    handler = logging.FileHandler(run_dir / run_folder.LOG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    level = log.level
    if not log.isEnabledFor(logging.INFO):
        log.setLevel(logging.INFO)
    log.addHandler(handler)
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
        handler.close()


def _build(cfg: C.Config):
    scalars.require(cfg.train.logger)  # before a run folder is made
    seed_everything(cfg.train.seed)
    cls = get_model_class(cfg.model)
    dataset = build_dataset(cfg.data, cls.task, cfg.model, cfg.train.seed, note=log.info, batch_size=cfg.train.batch_size)
    model = create_model(cfg.model, dataset.info, cfg.model_opts)
    return model, dataset


def _absolute(path: str) -> str:
    return os.path.abspath(os.path.expanduser(path)) if path else path


def absolute_paths(cfg: C.Config) -> C.Config:
    """``cfg`` with its data folders (``root``, ``eval_data``) absolute: a run folder names its data wherever it is read from."""
    root = cfg.data.root if cfg.data.layout == "toy" else _absolute(cfg.data.root)
    return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, root=root),
                               train=dataclasses.replace(cfg.train, eval_data=_absolute(cfg.train.eval_data)))


def data_names(root: str | Path) -> list[str]:
    """The image files under ``root`` (sub-folders included) as sorted relative names: what a run's data is made of."""
    root = Path(root)
    return sorted(p.relative_to(root).as_posix() for p in scan_images(root, recursive=True)[0])


def _record_data(cfg: C.Config, run_dir: Path) -> None:
    """A new run's list of its data files (``data.txt``), which a resume with the data in a new place checks."""
    if cfg.data.layout != "toy" and cfg.data.root and Path(cfg.data.root).is_dir():
        atomic_write_text(run_dir / run_folder.DATA_FILES, "".join(f"{n}\n" for n in data_names(cfg.data.root)))


def check_same_data(run_dir: Path, cfg: C.Config, root: str | Path) -> None:
    """Raise ArgumentError (naming the layout's argument) unless the folder ``root`` holds the files the run
    ``run_dir`` was trained on: the same count and names (its ``data.txt``, or its former folder while it exists)."""
    arg, root = f"layout={cfg.data.layout}", Path(root).expanduser()
    if not root.is_dir():
        raise ArgumentError("{%s} {value}: no such folder" % arg, arg, value=str(root))
    record = Path(run_dir) / run_folder.DATA_FILES
    if record.is_file():
        ours = record.read_text().splitlines()
    elif Path(cfg.data.root).is_dir():
        ours = data_names(cfg.data.root)
    else:
        log.warning("%s has no list of its data files (a run of an older version), and %s is gone: the data in %s is taken "
                    "as the same without a check", run_dir, cfg.data.root, root)
        return
    theirs = data_names(root)
    if ours == theirs:
        return
    missing, extra = sorted(set(ours) - set(theirs)), sorted(set(theirs) - set(ours))
    example = f"{missing[0]} is missing" if missing else f"{extra[0]} is new"
    raise ArgumentError("{value}: not the data this run was trained on ({n} images where the run had {m}; " + example
                        + "); pass with {%s} the folder its data was moved to" % arg, arg, value=str(root), n=len(theirs),
                        m=len(ours))


def unchanged_removed(cfg: C.Config, overrides: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """``overrides`` (nested sections, as the flags give them) without the values ``cfg`` already has: a resume
    given a run's own values (the command that started it, again) changes nothing."""
    given = {s: dict(v) for s, v in overrides.items() if s in ("model_opts", *C.SECTIONS) and v}
    merged = _typed(C.merge(cfg, given, "flags"))
    out: dict[str, dict[str, Any]] = {s: {} for s in overrides}
    for section, values in given.items():
        new, old = (merged.model_opts, cfg.model_opts) if section == "model_opts" else (getattr(merged, section), getattr(cfg, section))
        for key, value in values.items():
            same = getattr(new, key) == getattr(old, key) if hasattr(old, key) else False
            if key in ("runs_dir", "eval_data") and not same:
                same = _absolute(str(getattr(new, key))) == _absolute(str(getattr(old, key)))
            if not same:
                out[section][key] = value
    return out


def resume_changes(run_dir: str | Path, options: Mapping[str, Mapping[str, Any]], sources: Mapping[str, Any], model: str | None = None,
                   config_file: str | Path | None = None, init_from: Any = None,
                   image_size: int | None = None) -> tuple[dict[str, dict[str, Any]], Any]:
    """What a resume of ``run_dir`` given the arguments of a new run changes: (the overrides that differ from the
    run's own values, the data folder given with the run's layout or None). The run's own values may be given
    again (the command that started the run, with the resume added); ArgumentError names any other change
    a resume may not make (``check_resumable``). ``sources``: {layout: folder}."""
    run = load_config(run_dir)
    options = {s: dict(v) for s, v in options.items()}
    if config_file:
        from_file = C.load_yaml(Path(config_file))
        options = {s: {**(from_file.get(s) or {}), **v} for s, v in options.items()}
        model = model or from_file.get("model")
    data = options.setdefault("data", {})
    if data.get("layout", run.data.layout) == run.data.layout and "root" in data and not sources:
        sources = {run.data.layout: data["root"]}
    data.pop("layout", None), data.pop("root", None)
    refused = [f"layout={k}" for k in sources if k != run.data.layout]
    refused += ["model"] if model not in (None, run.model) else []
    refused += ["init_from"] if init_from is not None else []
    refused += ["image_size"] if image_size is not None and (run.data.load_size, run.data.crop_size) != (image_size,) * 2 else []
    changes = unchanged_removed(run, options)
    check_resumable(changes, tuple(refused))
    return {"train": {}, "data": {}, **changes}, sources.get(run.data.layout)


def _train(cfg: C.Config, run_dir: Path, model, dataset, dist: distributed.Distributed, state=None, progress=None,
           new_dir=False, score=None) -> dict[str, Any]:
    """Train in ``run_dir`` (scoring the generator with ``score``, see ``evaluate.scorer``) on the processes of
    ``dist`` (rank 0 writes the run folder); a new run (``new_dir``: the folder was just made) that fails
    before its first iteration leaves no folder."""
    device = dist.device
    try:
        trainer = Trainer(cfg, run_dir, model, dataset, device, state=state, progress=progress, evaluator=score, dist=dist)
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:
        if state is None:
            if dist.writer:
                shutil.rmtree(run_dir, ignore_errors=True)
            raise
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise UserError(f"{run_dir}: its checkpoint does not fit the run's model '{cfg.model}' ({detail}); it was written by "
                        f"another model or version of translate") from None
    except BaseException:
        if new_dir and dist.writer:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    if dist.writer:  # once the checkpoint has loaded: a failed resume keeps the old file
        C.save_yaml(cfg, run_dir / run_folder.CONFIG)
        if new_dir:
            _record_data(cfg, run_dir)
    where = f"{device}, world size {dist.world_size} ({cfg.train.batch_size} per process, {cfg.train.batch_size * dist.world_size} per step)" \
        if dist.active else str(device)
    log.info("run %s: %s, %d samples, %d iterations per epoch, %d iterations in all, on %s",
             run_dir, type(model).__name__, len(dataset), trainer.sampler.iters_per_epoch, trainer.total, where)
    for line in model_summary(model):
        log.info("%s", line)
    result = trainer.fit()
    if result.get("checkpoint"):
        result["checkpoint_parts"] = run_folder.checkpoint_parts(result["checkpoint"])
        result["keep_previous"] = cfg.train.keep_previous
    return result


def init_from(model, source: str | Path) -> None:
    """Fine-tuning: load weights (a run folder, a checkpoint or generator.pt); optimizers start fresh."""
    source = Path(source)
    if source.is_dir():
        last = source / run_folder.CHECKPOINTS / run_folder.LAST
        source = last if last.exists() else source / run_folder.WEIGHTS
    data = safe_load(source)
    if official.is_official(data):
        c = model.cfg
        attr, _ = _load_official_generator(model, data, source, {"net_g": c.net_g, "ngf": c.ngf, "norm": c.norm})
        log.info("initialised %s from %s, a generator file of the official code; the other networks start fresh", attr, source)
        return
    state = data["model"] if "model" in data and isinstance(data["model"], dict) else data.get("state", data)
    # networks the model builds from the first batch (``prepare``: CUT's F) do not exist yet: they start fresh
    later = {k.split(".", 1)[0] for k in state if getattr(model, k.split(".", 1)[0], 0) is None}
    state = {k: v for k, v in state.items() if k.split(".", 1)[0] not in later}
    own = model.state_dict()
    # a discriminator built otherwise than the source's (pix2pix's spectral norm against the paper's batch norm, which
    # --paper runs and older runs have) starts fresh: fine-tuning needs the generators
    fresh = [d for d in model.discriminators if (theirs := {k for k in state if k.split(".", 1)[0] == d})
             and theirs != {k for k in own if k.split(".", 1)[0] == d}]
    state = {k: v for k, v in state.items() if k.split(".", 1)[0] not in fresh}
    if fresh:
        warnings.warn(ArgumentWarning("{init_from} {source}: {nets} is built otherwise here than in that run (other "
                                      "discriminator options, e.g. spectral_norm), so it starts fresh; the generators are "
                                      "loaded", "init_from", source=source, nets=", ".join(fresh)))
    unexpected = [k for k in state if k not in own]
    if unexpected or not set(state) & set(own):
        raise ArgumentError("{source}: its weights do not fit this model ({n} unexpected keys); {init_from} needs a run of "
                            "the same model and sizes", "init_from", source=source, n=len(unexpected))
    wrong = next((k for k in state if tuple(state[k].shape) != tuple(own[k].shape)), None)
    if wrong:
        raise ArgumentError("{source}: weight shapes differ from this model ({key}: {theirs} here {ours}); use the same "
                            "{ngf}, {ndf} and {net_g} as that run", "ngf", "ndf", "net_g", source=source, key=wrong,
                            theirs=tuple(state[wrong].shape), ours=tuple(own[wrong].shape))
    model.load_state_dict({**own, **state})
    log.info("initialised from %s (%d tensors; %d left at their initial values)", source, len(state), len(own) - len(state))


def fit(cfg: C.Config, init: str | Path | None = None, progress: bool | None = None,
        announce: Callable[[C.Config, Path], None] | None = None) -> dict[str, Any]:
    """Train a new run of ``cfg`` (as ``resolve_config`` gives it) and return a summary of the run. Under
    torchrun, each process trains on its shard of every batch; rank 0 picks the run folder and writes it.
    ``announce(cfg, run_dir)`` is called on rank 0 once the data is found and the run folder made. The data
    folders are stored absolute in the run's config.yaml, so that the run resumes from any folder."""
    cfg = absolute_paths(_typed(cfg))
    with distributed.session() as group:
        dist = group.on(cfg.train.device)
        with _run_log(None, writer=False) if not dist.writer else nullcontext():
            model, dataset = _build(cfg)
        score = None

        def new_run() -> Path:  # rank 0: what reads the user's files and makes the run folder
            nonlocal score
            if init:
                init_from(model, init)  # the other processes get the weights from rank 0 as training starts
            score = evaluate.scorer(cfg, model)
            run_dir = run_folder.new_run_dir(cfg.run.runs_dir, cfg.run.name or cfg.model)
            if announce:
                announce(cfg, run_dir)
            return run_dir

        run_dir = dist.from_rank0(new_run)
        with _run_log(run_dir, dist.writer):
            return _train(cfg, run_dir, model, dataset, dist, progress=progress, new_dir=True, score=score)


def load_config(run_dir: str | Path) -> C.Config:
    run_dir = Path(run_dir)
    path = run_dir / run_folder.CONFIG
    if not path.is_file():
        raise UserError(f"{run_dir}: not a run folder (no {run_folder.CONFIG}); pass a folder under runs/")
    return _typed(C.from_dict(_with_earlier_defaults(C.load_yaml(path), always=True), str(path)))


def check_resumable(overrides: Mapping[str, Mapping[str, Any]], refused: tuple[str, ...] = ()) -> None:
    """Raise ArgumentError naming every override (and every name in ``refused``) a resume may not change
    (``translate.config.resumable``: its length, logging and hardware)."""
    may = C.resumable()
    bad = list(refused) + [k for section in ("model_opts", "train", "data", "run") for k in overrides.get(section, {})
                           if k not in may.get(section, ())]
    if bad:
        allowed = [k for keys in may.values() for k in keys]
        raise ArgumentError("a resumed run keeps its data, model and settings; it cannot change "
                            + ", ".join("{%s}" % k for k in dict.fromkeys(bad)) + " (it may change "
                            + ", ".join("{%s}" % k for k in allowed) + ")", *dict.fromkeys(bad), *allowed)


def resume(run_dir: str | Path, train_overrides: Mapping[str, Any] | None = None, progress: bool | None = None,
           data_overrides: Mapping[str, Any] | None = None, data_root: str | Path | None = None) -> dict[str, Any]:
    """Continue a run exactly where its last checkpoint left it (``last.pt``, or ``previous.pt`` when ``last.pt``
    is missing or damaged); larger ``steps``/``epochs`` extend it. Only the settings ``translate.config.resumable`` names may change.
    ``data_root``: where the run's data is now (it moved); it must hold the same files (``check_same_data``).
    A run stopped before its first checkpoint starts again from step 0 with its config.yaml, in its folder."""
    run_dir = Path(run_dir)
    overrides = {"train": dict(train_overrides or {}), "data": dict(data_overrides or {})}
    check_resumable(overrides)
    with distributed.session() as group:
        def read_run() -> tuple[C.Config, dict | None]:  # rank 0: the run folder is on its machine
            if (run_dir / run_folder.CHECKPOINTS).is_dir() and not (run_dir / run_folder.CONFIG).exists():
                raise UserError(f"{run_dir}: the run stopped before it saved its {run_folder.CONFIG}, so there is nothing to "
                                "resume; start a new run (and delete this folder)")
            cfg = load_config(run_dir)
            if any(overrides.values()):
                cfg = _typed(C.merge(cfg, overrides, "overrides"))
            cfg = _moved_data(run_dir, cfg, data_root)
            with _run_log(run_dir):
                removed = run_folder.remove_leftovers(run_dir)
                if removed:
                    log.info("removed %d temporary files left by a process that was killed while writing", removed)
                return cfg, run_folder.load_checkpoint(run_dir)

        cfg, state = group.from_rank0(read_run)
        with _run_log(run_dir, group.writer):
            dist = group.on(cfg.train.device)
            model, dataset = _build(cfg)
            score = None

            def prepare() -> None:  # rank 0
                nonlocal score
                if state is None:
                    log.warning("%s has no checkpoint to resume from (it stopped before its first one); starting it again "
                                "from step 0 with its %s", run_dir, run_folder.CONFIG)
                    run_folder.forget_progress(run_dir)
                else:
                    log.info("resuming %s from step %d", run_dir, state["step"])
                score = evaluate.scorer(cfg, model)

            dist.from_rank0(prepare)
            return _train(cfg, run_dir, model, dataset, dist, state=state, progress=progress, score=score)


def _moved_data(run_dir: Path, cfg: C.Config, data_root: str | Path | None) -> C.Config:
    """``cfg`` with its data at ``data_root`` once that is checked to be the same data; without ``data_root``, a
    missing data folder says how to give its new place."""
    if cfg.data.layout == "toy":
        if data_root is not None and str(data_root) != cfg.data.root:
            raise ArgumentError("a resumed run keeps its data; it cannot change {layout=toy}", "layout=toy")
        return cfg
    arg = f"layout={cfg.data.layout}"
    if data_root is None or _absolute(str(data_root)) == _absolute(cfg.data.root):
        if not Path(cfg.data.root).is_dir():
            raise ArgumentError("{value}: the run's data is not there (moved or deleted); pass where it is now with {%s}" % arg,
                                arg, value=cfg.data.root)
        return cfg
    check_same_data(run_dir, cfg, data_root)
    log.info("the run's data is now in %s (the same files as it had in %s)", data_root, cfg.data.root)
    return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, root=_absolute(str(data_root))))


def _official_slot(model, path: Path) -> tuple[str, str]:
    """(generator attribute, direction) for an official generator file: ``*_G_B.pth`` is CycleGAN's B -> A
    generator, any other file (``*_G.pth``, ``*_G_A.pth``) the A -> B one."""
    if len(model.generators) > 1 and Path(path).stem.endswith("G_B"):
        return model.generators[1], "BtoA"
    return model.generators[0], "AtoB"


def _load_official_generator(model, state, source, options) -> tuple[str, str]:
    """Load an official generator ``state`` into its slot of ``model``; (attribute, direction)."""
    attr, direction = _official_slot(model, source)
    official.load(getattr(model, attr), state, source, {**options, "input_nc": model.input_channels(direction),
                                                        "output_nc": model.output_channels(direction)})
    return attr, direction


OFFICIAL_MODELS = ("pix2pix", "cyclegan")


def load_official(path: str | Path, model: str = "pix2pix", net_g: str | None = None, ngf: int = 64,
                  norm: str | None = None, input_nc: int = 3, output_nc: int = 3):
    """(model, config) holding the generator of a file saved by the official pix2pix/CycleGAN code
    (``latest_net_G.pth``; CycleGAN's ``*_G_A.pth`` translates AtoB, ``*_G_B.pth`` BtoA, and only that way),
    described by the official options (``norm``: the model's default). Our pix2pix builds U-Nets, so a
    ResNet generator is held by a one-way CycleGAN model (the same network)."""
    path = Path(path)
    if model not in OFFICIAL_MODELS:
        raise ArgumentError("{model} must be pix2pix or cyclegan for a generator file of the official code, not '{value}'",
                            "model", value=model)
    state = official.read(path)
    norm = norm or get_model_class(model).Config().norm
    options = {"net_g": net_g, "ngf": ngf, "norm": norm, "input_nc": input_nc, "output_nc": output_nc}
    if net_g is None:
        raise official.mismatch(state, path, options)
    holder = "cyclegan" if net_g.startswith("resnet_") else model
    opts = {"net_g": net_g, "ngf": ngf, "norm": norm}
    if net_g.startswith("resnet_"):
        opts["dropout"] = official.has_dropout(state)
    if holder == "cyclegan" and input_nc != output_nc:
        opts["lambda_identity"] = 0
    built = create_model(holder, DataInfo(input_nc, output_nc), model_config(holder, opts))
    attr, direction = _load_official_generator(built, state, path, options)
    built.directions = (direction,)
    cfg = resolve_config({"model": holder, "model_opts": opts, "train": {"paper": True},  # the official code's model
                          "data": {"input_nc": input_nc, "output_nc": output_nc, "direction": direction}})
    log.info("loaded %s from %s: the official %s generator %s (ngf %d, %s norm), translating %s",
             attr, path, model, net_g, ngf, norm, direction)
    return built, cfg


def load_run(run_dir: str | Path, device: str = "cpu", mode: str | None = None, seed: int = 0, weights: str | None = None,
             both_ways: bool = False, **official_options):
    """(model on ``device`` in inference ``mode``, its config) from a run folder's generator weights (the
    moving average of them when the run kept one), from a generator file of the official code described
    by ``official_options`` (see ``load_official``), or from the name of an official pretrained generator
    (``translate.pretrained``; downloaded into the cache on first use) where no file or folder has that name. ``mode``: ``eval`` (running statistics, no dropout) or
    ``paper`` (each image's own batch-norm statistics and dropout, as the pix2pix paper tests; dropout
    draws from torch's generator seeded with ``seed``); None: the model's ``inference_mode``. ``weights`` (a run
    folder): ``best`` (generator_best.pt, kept by a run trained with ``eval_every``) or ``last`` (generator.pt);
    by default the best where it exists. ``both_ways`` (a pretrained name): see ``load_pretrained``."""
    run_dir = Path(run_dir)
    if mode is not None:
        check_mode(mode)
    given = [k for k, v in official_options.items() if v is not None]
    name = str(run_dir)
    if not run_dir.exists() and pretrained.known(name):
        if given:
            raise ArgumentError("{run_dir}: a pretrained generator carries its own model and sizes; leave out "
                                + ", ".join("{%s}" % k for k in given), *given, run_dir=run_dir)
        model, cfg = load_pretrained(name, both_ways)
    elif run_dir.is_file():
        model, cfg = load_official(run_dir, **{k: official_options[k] for k in given})
    elif given:
        raise ArgumentError("{run_dir}: a run folder carries its own model and sizes; leave out " + ", ".join("{%s}" % k for k in given)
                            + " (options of a generator file of the official code, latest_net_G.pth)", *given, run_dir=run_dir)
    else:
        if pretrained.known(name) and run_dir.is_dir():
            log.info("%s: the run folder here (not the pretrained generator of that name)", run_dir)
        model, cfg = _load_run_folder(run_dir, weights)
    model.to(resolve_device(device))
    mode = mode or model.inference_mode
    set_mode(model, mode)
    if mode == "paper":
        seed_everything(seed)
    return model, cfg


def _load_run_folder(run_dir: Path, which: str | None = None):
    cfg = load_config(run_dir)
    weights = run_folder.weights_file(run_dir, which)
    if not weights.is_file():
        raise UserError(f"{run_dir}: no {run_folder.WEIGHTS} yet; the run has not saved a checkpoint")
    data = safe_load(weights)
    info = DataInfo(**{**data["info"], "class_names": tuple(data["info"].get("class_names", ()))})
    model = create_model(data["model"], info, cfg.model_opts)
    missing, unexpected = model.load_state_dict(data["state"], strict=False)
    needed = {k for k in model.inference_state()}
    if unexpected or needed & set(missing):
        raise UserError(f"{weights}: weights do not match model '{data['model']}'; the file is from another version or model")
    return model, cfg


def load_pretrained(name: str, both_ways: bool = False, progress: bool | None = None):
    """(model, config) of the official pretrained generator ``name`` (see ``translate.pretrained``), fetched into
    the cache when it is not there; the config's crop size is the size it was trained at. ``both_ways``: a
    CycleGAN generator whose other direction is published too holds both (AtoB: ``name``, BtoA: the other)."""
    e = pretrained.entry(name)
    path = pretrained.fetch(name, progress)
    model, cfg = load_official(path, e.model, e.net_g, e.ngf, e.norm)
    log.info("pretrained %s: %s (%s)", name, e.direction, path)
    if both_ways and e.reverse and e.model == "cyclegan":
        other = pretrained.entry(e.reverse)
        back = pretrained.fetch(e.reverse, progress)
        official.load(model.netG_BA, official.read(back), back, other.options())
        model.directions = ("AtoB", "BtoA")
        log.info("pretrained %s: %s (%s), as BtoA", other.name, other.direction, back)
    data = {"load_size": e.size, "crop_size": e.size, "direction": "AtoB"}
    cfg = _typed(C.merge(cfg, {"data": data, "run": {"name": name}}, f"pretrained {name}"))
    return model, cfg
