"""What the commands of ``translate`` share: the app, the one-line errors and their exit codes, the
spelling of the library's argument names as flags, and the options derived from the config's fields.

Each field of the configuration (translate.config) that has a flag becomes one Typer option of ``translate
fit``: its help, flag spelling, panel and type come from the field, its default from the field (and the
models' own defaults, shown when the help is drawn). Options the models share (``SharedModelOptions``) are
flags too; each model's own options are listed under that model in ``fit --help``, with their defaults. The
same descriptions give the spelling of argument names in messages and the options reference of the docs
(``options_reference``).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
import logging
import sys
import typing
import warnings
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from translate.config import SECTIONS, SharedModelOptions, help_text, option_of
from translate.errors import ArgumentWarning, Named, ResourceError, UserError, WrongRunError
from translate.registry import describe_options, get_model_class, list_models

FID_MIN_IMAGES = 50  # under this, an FID gets a note: its 2048x2048 feature covariance needs many images
MAX_PIXELS = 89_478_485  # Pillow's decompression-bomb limit (translate.data.image_files.MAX_PIXELS)
PNG_LEVEL = 1  # zlib level of converted PNGs (translate.inference.PNG_LEVEL)
WEIGHTS_HELP = ("A run folder: best | last: the weights that scored best (generator_best.pt, kept with --eval-every) or the "
                "last ones (generator.pt) \\[default: best where the run kept them, else last].")
MODE_HELP = ("eval: batch-norm running statistics, no dropout (the official test script's --eval); paper: each image's "
             "own statistics and dropout, as the pix2pix paper tests \\[default: the model's: paper for pix2pix and dualgan, "
             "eval for the others; 'translate models NAME' says which and why].")
SEED_HELP = "With --mode paper: the seed of the dropout masks."

_flag_type = typer.core.TyperOption.display_type_rich


def _no_type_for_flags(self, ctx):
    """On/off flags take no value: show no '<bool>' type beside them in the help."""
    return None if self.is_flag else _flag_type(self, ctx)


typer.core.TyperOption.display_type_rich = _no_type_for_flags
_format_help = typer.core.TyperCommand.format_help


def _one_column(param):
    """An on/off pair of flags drawn as one, ``--[no-]flip`` with its default as on or off: the help keeps its
    width at 80 columns (a column of ``--no-...`` flags beside the flags leaves the help 28 columns)."""
    if not (getattr(param, "is_bool_flag", False) and param.secondary_opts and param.opts[0].startswith("--")):
        return param
    shown = copy.copy(param)
    shown.opts, shown.secondary_opts = ["--[no-]" + param.opts[0][2:], *param.opts[1:]], []
    if param.default is not None and param.show_default is not False:
        shown.help, shown.show_default = f"{param.help} \\[default: {'on' if param.default else 'off'}]", False
    return shown


def _compact_format_help(self, ctx, formatter):
    own = self.params
    self.params = [_one_column(p) for p in own]
    try:
        return _format_help(self, ctx, formatter)
    finally:
        self.params = own


typer.core.TyperCommand.format_help = _compact_format_help
_usage_name = typer.core.TyperArgument._usage_display_name


def _plain_usage_name(self) -> str:
    """A required argument as its name in the usage line (``RUN IN OUT``, as click writes it), not ``{RUN}``."""
    return self.display_name_raw + ("..." if self.nargs != 1 else "") if self.required else _usage_name(self)


typer.core.TyperArgument._usage_display_name = _plain_usage_name

# commands of other tools that users type (the official pix2pix/CycleGAN scripts, yolo): what translate calls them
OTHER_NAMES = {"train": ("fit", "to train a model"), "test": ("convert", "to convert images with a trained run"),
               "predict": ("convert", "to convert images with a trained run"), "val": ("evaluate", "to score a run")}


class _Group(typer.core.TyperGroup):
    """The commands; a command of another tool (``train``, ``predict``) gets one line naming ours (exit 2)."""

    def resolve_command(self, ctx, args):
        if args and args[0] in OTHER_NAMES and args[0] not in self.commands:
            ours, what = OTHER_NAMES[args[0]]
            typer.echo(f"error: translate has no '{args[0]}' command; {what}, use: translate {ours}", err=True)
            raise typer.Exit(2)
        return super().resolve_command(ctx, args)


app = typer.Typer(cls=_Group, add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Image-to-image translation with GANs: pix2pix, CycleGAN, CUT, FastCUT, DiscoGAN, DualGAN, CGAN, GAN, WGAN, WGAN-GP.")
log = logging.getLogger("translate")

# How the command line spells the argument names that errors and warnings of the library use, besides the
# flags of the config's fields (``flag_names``). Any other name is spelled as the flag "--name-with-dashes"
# when some command has that flag, else as a model option, "--opt name".
FLAG_OF = {"layout=paired": "--paired DIR", "layout=unpaired": "--unpaired DIR", "layout=labelled": "--labelled DIR",
           "layout=images": "--images DIR", "layout=toy": "--toy NAME"}


@functools.lru_cache(maxsize=1)
def _flags() -> frozenset[str]:
    group = typer.main.get_command(app)
    return frozenset(opt for cmd in group.commands.values() for param in cmd.params for opt in getattr(param, "opts", ()))


def spell(name: str) -> str:
    """The command-line words for the library's argument ``name``."""
    if name in FLAG_OF:
        return FLAG_OF[name]
    if name in flag_names():
        return flag_names()[name]
    flag = "--" + name.replace("_", "-")
    return flag if flag in _flags() else f"--opt {name}"


def message(exc: BaseException) -> str:
    if isinstance(exc, WrongRunError):
        return f"{exc}; use: " + ("translate convert RUN IN OUT" if exc.translates else "translate sample RUN")
    return exc.render(spell) if isinstance(exc, Named) else str(exc)


_show_other_warning = warnings.showwarning


def _show_warning(msg, category, filename, lineno, file=None, line=None) -> None:
    """The library's ArgumentWarnings as one 'note:' line in flag words; other warnings as Python shows them."""
    if isinstance(msg, ArgumentWarning):
        typer.echo(f"note: {message(msg)}", err=True)
    else:
        _show_other_warning(msg, category, filename, lineno, file, line)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (a test runner or a progress display may swap it);
    records the progress display already printed (``on_terminal``) are left out."""

    def filter(self, record):
        return not getattr(record, "on_terminal", False) and super().filter(record)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def _setup_logging(verbose: bool = False) -> None:
    if not any(isinstance(h, _StderrHandler) for h in log.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
    log.setLevel(logging.DEBUG if verbose else logging.INFO)


def guarded(fn):
    """User errors become one line on stderr and exit code 2; work that failed on the way (a diverged run,
    a full disk, out of memory) one line and exit code 1; an interrupted command exits 130."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        _setup_logging()
        try:
            with warnings.catch_warnings():  # here, in the main thread: the library's threads leave the filters alone
                warnings.filterwarnings("ignore", module=r"PIL(\.|$)")  # Pillow's notes on odd files it reads anyway
                warnings.simplefilter("always", ArgumentWarning)
                warnings.showwarning = _show_warning
                return fn(*args, **kwargs)
        except (ResourceError, FloatingPointError) as exc:
            typer.echo(f"error: {message(exc)}", err=True)
            raise typer.Exit(1) from None
        except UserError as exc:
            typer.echo(f"error: {message(exc)}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper


def drop_none(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


def parse_opts(opts: list[str]) -> dict:
    import yaml

    out = {}
    for item in opts:
        if "=" not in item:
            raise UserError(f"--opt expects key=value, got '{item}' (e.g. --opt lambda_l1=50)")
        key, value = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)
    return out


def _mb(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.3g} MB"


def report_run(result: dict) -> None:
    interrupted = result["stopped"] and result.get("reason") != "time_limit"
    if result.get("rank"):  # under torchrun, rank 0 reports the run; the other processes hold no files
        if interrupted:
            raise typer.Exit(130)
        return
    last = result.get("last") or {}
    verb = ("stopped at the time limit" if result.get("reason") == "time_limit" else "stopped") if result["stopped"] else "done"
    typer.echo(f"{verb}: step {result['step']}/{result['total']} in {result['run_dir']}")
    if not result["stopped"] and result.get("steps_run") == 0 and result["step"] >= result["total"]:  # a resume of a finished run
        typer.echo(f"the run is complete; to train longer: translate fit --resume {result['run_dir']} --steps N (N > {result['total']})")
    if last:
        typer.echo("last metrics: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in last.items()))
    typer.echo(f"samples: {result['sample']}\ncurves: {result['results']}")
    parts = result.get("checkpoint_parts") or {}
    holds = ", ".join(f"{name} {_mb(n)}" for name, n in parts.items() if n and name != "other")
    previous = Path(result["checkpoint"]).with_name("previous.pt").is_file()
    typer.echo(f"checkpoint: {result['checkpoint']} ({_mb(result['checkpoint_bytes'])}" + (f": {holds}" if holds else "")
               + "; all a resume needs; " + ("previous.pt holds the one before)" if previous else "no previous.pt yet)"
                                            if result.get("keep_previous", True) else "the only one kept, --no-keep-previous)"))
    typer.echo(f"weights: {result['weights']} ({_mb(result['weights_bytes'])})")
    if result.get("best"):
        best = result["best"]
        typer.echo(f"best: step {best['step']}, eval_{best['score']}={best['value']:.4g}: {Path(result['run_dir']) / 'generator_best.pt'}")
    if result["stopped"]:  # the checkpoint is saved, but the run is not done
        typer.echo(f"continue with: translate fit --resume {result['run_dir']}")
        if interrupted:  # exit 130, as other tools; the --time-limit the user asked for is a success
            raise typer.Exit(130)


def open_run(run_dir: Path, weights: str | None, **options):
    """``api.load_run`` of ``weights`` (best | last), saying which file of a run folder it loaded."""
    from translate import api
    from translate.engine.run_folder import weights_file

    loaded = api.load_run(run_dir, weights=weights, **options)
    if run_dir.is_dir():
        typer.echo(f"weights: {weights_file(run_dir, weights)}")
    return loaded



def announce_config(cfg, run_dir: Path) -> None:
    """The values a new run changes from its model's defaults, once its data is found (the whole config is in the run folder)."""
    from translate import api

    changed = [line[2:] for line in api.describe(cfg) if line.startswith("*")]
    base = f"{cfg.model}'s paper settings ({spell('paper')})" if cfg.train.paper else f"{cfg.model}'s defaults"
    typer.echo("\n  ".join([f"config: {base}, except these (all of it in {run_dir / 'config.yaml'}):", *changed]))


def report_scores(result: dict) -> None:
    """An evaluation's scores, where its JSON went and its failures (exit 1 where an image failed)."""
    import json

    def fid_line(label: str, r: dict) -> None:
        typer.echo(f"  {label}FID {r['fid']:.2f}   KID {r['kid']:.4f} +- {r['kid_std']:.4f}   "
                   f"({r['n_fake']} generated vs {r['n_real']} real; KID subsets of {r['kid_subset_size']})")

    if result["kind"] == "paired":
        typer.echo(f"{result['n']} pairs from {result['folder']}:")
        for k, (mean, std) in result["summary"].items():
            typer.echo(f"  {k:5s} {mean:.4f} +- {std:.4f}")
    if "fid" in result:
        fid_line("", result)
    for direction in result.get("directions", ()):
        fid_line(f"{direction}: ", result[direction])
    scored = [result] * ("fid" in result) + [result[d] for d in result.get("directions", ())]
    fewest = min((min(r["n_fake"], r["n_real"]) for r in scored), default=FID_MIN_IMAGES)
    if fewest < FID_MIN_IMAGES:
        typer.echo(f"note: FID from {fewest} images is not meaningful: it compares the covariance of 2048 Inception features, "
                   f"which takes many images to estimate (fewer than {FID_MIN_IMAGES} here; the FID papers use thousands); "
                   "compare such scores only with each other, on the same images", err=True)
    if result.get("json"):
        typer.echo(f"scores: {result['json']}" + (f"; per image: {result['csv']}" if result.get("csv") else ""))
    else:
        typer.echo(json.dumps({k: v for k, v in result.items() if k != "failed"}, default=str))
    for err in result["failed"]:
        typer.echo(f"failed: {err}", err=True)
    if result["failed"]:
        raise typer.Exit(1)


def first_sentence(text: str) -> str:
    """The first sentence of a docstring, whole (joined across its lines)."""
    para = " ".join((text or "").strip().split("\n\n")[0].split())
    end = para.find(". ")
    return para if end < 0 else para[: end + 1]


def names(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def print_version(value: bool) -> None:
    """--version: the version, then exit."""
    if value:
        from translate import __version__

        typer.echo(f"translate {__version__}")
        raise typer.Exit()


# where each section's values go, and which dataclass describes them
OPTION_SECTIONS = {**SECTIONS, "model_opts": SharedModelOptions}
SEP = "__"  # a parameter of the command is named SECTION__FIELD


def _flag(f: dataclasses.Field, opt) -> str:
    return "--" + (opt.flag or f.name.replace("_", "-"))


def _fields():
    """(section, field, its Option) for every field of the configuration that has a flag."""
    for section, cls in OPTION_SECTIONS.items():
        for f in dataclasses.fields(cls):
            opt = option_of(f)
            if opt.flag is not None:
                yield section, f, opt


@functools.lru_cache(maxsize=1)
def flag_names() -> dict[str, str]:
    """{field name: the flag that sets it} for every field with a flag."""
    return {f.name: _flag(f, opt) for _, f, opt in _fields()}


def _base_type(cls: type, name: str) -> type:
    hint = typing.get_type_hints(cls)[name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return "none" if value is None else "''" if value == "" else str(value)


def config_parameters(spell: Callable[[str], str]) -> list[inspect.Parameter]:
    """One keyword parameter (a Typer option, default None: not given) per field with a flag."""
    params = []
    for section, f, opt in _fields():
        kind = _base_type(OPTION_SECTIONS[section], f.name)
        flag = _flag(f, opt)
        decls = [f"{flag}/--no-{flag[2:]}" if kind is bool else flag] + ([f"-{opt.short}"] if opt.short else [])
        info = typer.Option(None, *decls, help=help_text(opt, spell), rich_help_panel=opt.panel or None, show_default=False)
        params.append(inspect.Parameter(f"{section}{SEP}{f.name}", inspect.Parameter.KEYWORD_ONLY, default=info,
                                        annotation=Optional[kind]))
    return params


def with_config_options(spell: Callable[[str], str]):
    """Decorate a command ``fn(explicit..., options)``: Typer sees its own parameters followed by every
    config option, and ``fn`` gets the config options given on the command line as nested overrides
    ``{"data": {...}, "train": {...}, "run": {...}, "model_opts": {...}}`` (options not given are left out)."""

    def wrap(fn):
        own = inspect.signature(fn, eval_str=True)
        explicit = [p for name, p in own.parameters.items() if name != "options"]

        @functools.wraps(fn)
        def command(**kwargs):
            options: dict[str, dict[str, Any]] = {s: {} for s in OPTION_SECTIONS}
            for key in [k for k in kwargs if SEP in k]:
                value = kwargs.pop(key)
                if value is not None:
                    section, name = key.split(SEP)
                    options[section][name] = str(value) if hasattr(value, "__fspath__") else value
            return fn(**kwargs, options=options)

        command.__signature__ = own.replace(parameters=explicit + config_parameters(spell))
        return command

    return wrap


def _defaults_help(section: str, name: str, models: dict[str, type]) -> str:
    """'[default: X]', with the models whose own defaults differ."""
    if section == "model_opts":
        return "\\[default: the model's, listed below]"
    base = getattr(OPTION_SECTIONS[section](), name)
    own: dict[str, list[str]] = {}
    for model, cls in models.items():
        value = cls.defaults.get(section, {}).get(name, base)
        if value != base:
            own.setdefault(_show(value), []).append(model)
    others = "; ".join(f"{', '.join(ms)}: {v}" for v, ms in own.items())
    return f"\\[default: {_show(base)}" + (f"; {others}" if others else "") + "]"


class FitCommand(typer.core.TyperCommand):
    """``translate fit``: its help shows each option's default with the models' own, and each model's
    options under the model's name. Drawn only when asked for, as it imports the registered models."""

    def format_help(self, ctx, formatter):
        models = {name: get_model_class(name) for name in list_models()}
        flags = flag_names()
        own = list(self.params)
        for param in own:
            if SEP in (param.name or "") and not param.help.endswith("]"):
                param.help = f"{param.help} {_defaults_help(*param.name.split(SEP), models)}"
        shared = {f.name for f in dataclasses.fields(SharedModelOptions)}
        extra = []
        for model in models:
            for name, default, meaning in describe_options(model):
                shown = flags.get(name) if name in shared else None
                extra.append(_listing(own[-1], shown or f"--opt {name}=", default, meaning, f"{model} options"))
        self.params = own + extra
        try:
            super().format_help(ctx, formatter)
        finally:
            self.params = own


def _listing(template, name: str, default: Any, meaning: str, panel: str):
    """An option drawn in the help only (never parsed): a model's option and its default."""
    shown = copy.copy(template)
    shown.opts, shown.secondary_opts, shown.rich_help_panel = [name], [], panel
    shown.help = f"{meaning} \\[default: {str(default).lower() if isinstance(default, bool) else _show(default)}]"
    shown.display_type_rich = lambda ctx: None
    return shown


def options_reference(spell: Callable[[str], str], command_params: list) -> str:
    """The options reference (docs/options.md): the command's own options (``command_params``), every
    option of the config by panel, the keys a config file alone sets, then each built-in model's options
    with its defaults (plug-ins document their own), all from the config's fields and the registry."""
    lines = ["# Options of `translate fit`", "",
             "Generated from the configuration's fields (`translate/config.py` and each model's `Config`); "
             "`python scripts/options_doc.py` writes it again. Each option is also a key of a run's `config.yaml` "
             "(section.key). *resume*: a resumed run (`--resume RUN`) may change it.", ""]
    lines += ["## The command's own options", "", "| flag | what it does |", "|---|---|"]
    lines += [f"| `{' / '.join(p.opts + p.secondary_opts)}` | {p.help.replace('|', chr(92) + '|')} |" for p in command_params]
    lines.append("")
    models = {name: cls for name in list_models() if (cls := get_model_class(name)).__module__.startswith("translate.models.")}
    panels: dict[str, list[str]] = {}
    for section, f, opt in _fields():
        kind = _base_type(OPTION_SECTIONS[section], f.name)
        flag = _flag(f, opt)
        flag = f"{flag} / --no-{flag[2:]}" if kind is bool else flag
        key = f"model.{f.name}" if section == "model_opts" else f"{section}.{f.name}"
        default = _defaults_help(section, f.name, models).replace("\\[", "[")[len("[default: "):-1]
        text = help_text(opt, spell).replace("|", "\\|")
        panels.setdefault(opt.panel or "Options", []).append(
            f"| `{flag}` | `{key}` | {default.replace('|', chr(92) + '|')} | {'yes' if opt.resumable else ''} | {text} |")
    for panel, rows in panels.items():
        lines += [f"## {panel}", "", "| flag | config key | default | resume | what it does |", "|---|---|---|---|---|", *rows, ""]
    only = [(s, f, option_of(f)) for s, cls in SECTIONS.items() for f in dataclasses.fields(cls) if option_of(f).flag is None]
    lines += ["## In a config file only", "", "Keys without a flag, set in the YAML given to `--config`.", "",
              "| config key | default | what it does |", "|---|---|---|"]
    lines += [f"| `{s}.{f.name}` | {_defaults_help(s, f.name, models).replace(chr(92) + '[', '[')[len('[default: '):-1]} | "
              f"{help_text(opt, spell).replace('|', chr(92) + '|')} |" for s, f, opt in only]
    lines += ["", "## Each model's options", "",
              "Set with `--opt NAME=VALUE` (repeatable), or the flag above where one exists; a model refuses an "
              "option it does not have. `translate models NAME` prints the same list.", ""]
    for model, cls in models.items():
        lines += [f"### {model}", "", "| option | default | what it does |", "|---|---|---|"]
        lines += [f"| `{name}` | `{default!r}` | {meaning.replace('|', chr(92) + '|')} |" for name, default, meaning in describe_options(model)]
        changed = [f"`{s}.{k}` = `{v!r}`" for s, values in cls.defaults.items() for k, v in values.items()]
        lines += ["", f"Defaults of the run it changes: {', '.join(changed)}." if changed else "", ""]
    return "\n".join(lines).rstrip() + "\n"
