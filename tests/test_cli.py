from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import one_line_error
from translate.cli import app
from translate.engine import run_folder

TINY = ["--steps", "2", "--load-size", "64", "--crop-size", "64", "--ngf", "4", "--ndf", "4", "--log-every", "1"]


def fit(runner, data, tmp_path, *extra):
    return runner.invoke(app, ["fit", "--paired", str(data), "--runs-dir", str(tmp_path / "runs"), *TINY, *extra])



@pytest.fixture
def trained(runner, paired_dir, tmp_path):
    result = fit(runner, paired_dir, tmp_path, "--name", "p")
    assert result.exit_code == 0, result.output
    return tmp_path / "runs" / "p"


def test_fit_writes_a_run_and_prints_the_changed_config(runner, paired_dir, tmp_path):
    result = fit(runner, paired_dir, tmp_path)
    assert result.exit_code == 0, result.output
    run = tmp_path / "runs" / "pix2pix"
    assert f"config: pix2pix's defaults, except these (all of it in {run / 'config.yaml'}):" in result.output
    assert "  train.steps: 2" in result.output and "train.seed" not in result.output
    assert "  model.ngf: 4" in result.output and "model.lambda_l1" not in result.output
    assert {"config.yaml", "metrics.csv", "results.png", "samples", "checkpoints", "generator.pt", "log.txt"} <= {p.name for p in run.iterdir()}
    assert "done: step 2/2" in result.output
    size = (run / "checkpoints" / "last.pt").stat().st_size / 1e6
    parts = run_folder.checkpoint_parts(run / "checkpoints" / "last.pt")
    assert parts["weights"] and parts["optimizers"] > parts["weights"] and parts["ema"]
    holds = ", ".join(f"{k} {parts[k] / 1e6:.3g} MB" for k in ("weights", "optimizers", "ema"))
    assert f"checkpoint: {run / 'checkpoints' / 'last.pt'} ({size:.3g} MB: {holds}; all a resume needs; no previous.pt " \
           "yet)" in result.output
    assert f"weights: {run / 'generator.pt'} ({(run / 'generator.pt').stat().st_size / 1e6:.3g} MB)" in result.output


@pytest.mark.parametrize("args, message", [
    (["--model", "pix2pixx"], "error: unknown model 'pix2pixx'; did you mean 'pix2pix'? available: "),
    (["--device", "cuda:7"], "error: --device cuda:7: "),
    (["--precision", "fp8"], "error: --precision must be one of fp32, bf16, fp16, not 'fp8'"),
    (["--opt", "lamda_l1=5"], "error: model 'pix2pix' has no option --opt lamda_l1 (did you mean 'lambda_l1'?)"),
    (["--d-steps", "5"], "error: model 'pix2pix' has no option --d-steps;"),
    (["--netG", "unet_100"], "error: --netG unet_100: N must be a power of two"),
    (["--logger", "wandb"], "error: --logger must be one of none, tensorboard, not 'wandb'"),
    (["--threads", "-1"], "error: --threads must be 0 (torch's default) or more"),
    (["--keep-checkpoints", "-1"], "error: --keep-checkpoints must be 0 or more"),
])
def test_bad_flags_give_one_line_errors(runner, paired_dir, tmp_path, args, message):
    assert one_line_error(fit(runner, paired_dir, tmp_path, *args)).startswith(message)
    assert not (tmp_path / "runs" / "pix2pix").exists() or "netG" in args[0]


def test_unknown_flag_exits_2(runner, paired_dir, tmp_path):
    result = fit(runner, paired_dir, tmp_path, "--stepz", "3")
    assert result.exit_code == 2 and "No such option: --stepz" in result.output


def test_data_errors(runner, tmp_path):
    (tmp_path / "empty").mkdir()
    line = one_line_error(fit(runner, tmp_path / "empty", tmp_path))
    assert line.startswith(f"error: {tmp_path / 'empty'}: no images found")
    Image.new("RGB", (8, 8)).save((tmp_path / "A").mkdir() or tmp_path / "A" / "1.png")
    (tmp_path / "B").mkdir()
    line = one_line_error(fit(runner, tmp_path, tmp_path))
    assert line == f"error: {tmp_path / 'A' / '1.png'}: no partner in {tmp_path / 'B'} (expected {tmp_path / 'B' / '1'}.*); add it or remove this file"
    line = one_line_error(runner.invoke(app, ["fit", "--unpaired", str(tmp_path), "--model", "pix2pix"]))
    assert line == "error: model 'pix2pix' trains on paired data: pass --paired DIR (got --unpaired DIR)"


def test_models_and_help_list_everything(runner):
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0 and "pix2pix" in result.output and "paired" in result.output
    help_text = runner.invoke(app, ["fit", "--help"], env={"COLUMNS": "200"}).output
    for flag in ("--paired", "--unpaired", "--resume", "--init-from", "--steps", "--epochs", "--direction", "--netG",
                 "--ngf", "--ndf", "--norm", "--precision", "--device", "--config", "--seed", "--batch-size", "--threads",
                 "--logger", "--keep-checkpoints"):
        assert flag in help_text, flag


def test_resume_and_init_from_and_config(runner, trained, tmp_path):
    result = runner.invoke(app, ["fit", "--resume", str(trained), "--steps", "3"])
    assert result.exit_code == 0, result.output
    assert "done: step 3/3" in result.output
    result = runner.invoke(app, ["fit", "--config", str(trained / "config.yaml"), "--init-from", str(trained), "--name", "ft"])
    assert result.exit_code == 0, result.output
    assert "initialised from" in result.output or (tmp_path / "runs" / "ft").is_dir()
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  stpes: 3\n")
    line = one_line_error(runner.invoke(app, ["fit", "--config", str(bad), "--paired", str(tmp_path)]))
    assert line.startswith(f"error: unknown key 'stpes' in {bad} [train] (did you mean 'steps'?)")


def test_plot_redraws_results_png(runner, trained, tmp_path):
    (trained / "results.png").unlink()
    result = runner.invoke(app, ["plot", str(trained)])
    assert result.exit_code == 0 and f"wrote {trained / 'results.png'}" in result.output, result.output
    with Image.open(trained / "results.png") as img:
        assert img.format == "PNG" and img.width > 300
    line = one_line_error(runner.invoke(app, ["plot", str(tmp_path)]))
    assert line == f"error: {tmp_path}: no metrics.csv (not a run folder, or no metrics logged yet)"


def _img(path, w, h, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)


def test_convert_mirrors_tree_keeps_sizes_and_reports_failures(runner, trained, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    _img(src / "a.jpg", 37, 23)
    _img(src / "sub" / "b.png", 64, 64)
    _img(src / "sub" / "c.png", 64, 64, 1)
    (src / "sub" / "broken.png").write_bytes(b"nope")
    (src / "notes.txt").write_text("ignored")
    result = runner.invoke(app, ["convert", str(trained), str(src), str(out), "--device", "cpu"])
    assert result.exit_code == 1, result.output
    assert "converted 3 images" in result.output and "1 failed" in result.output
    assert f"failed: {src / 'sub' / 'broken.png'}: not an image (it holds text)" in result.output
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == ["a.png", "sub/b.png", "sub/c.png"]
    assert Image.open(out / "a.png").size == (37, 23)
    again = runner.invoke(app, ["convert", str(trained), str(src), str(out)])
    assert "converted 0 images" in again.output and "skipped 3 existing" in again.output


def test_convert_ab_halves_and_direction_check(runner, trained, tmp_path, paired_dir):
    out = tmp_path / "out"
    result = runner.invoke(app, ["convert", str(trained), str(paired_dir), str(out), "--ab", "left"])
    assert result.exit_code == 0, result.output
    first = sorted(out.glob("*.png"))[0]
    assert Image.open(first).size == (64, 64) and len(list(out.glob("*.png"))) == 8
    line = one_line_error(runner.invoke(app, ["convert", str(trained), str(paired_dir), str(out), "--direction", "BtoA"]))
    assert line.startswith("error: this run was trained AtoB (A -> B): its input is the A half of the pairs, and it "
                           "translates only AtoB; leave out --direction or train a run with --direction=BtoA")


def test_check_reports_layout_and_problems(runner, paired_dir):
    result = runner.invoke(app, ["check", str(paired_dir)])
    assert result.exit_code == 0 and "layout: paired (detected)" in result.output and "8 samples" in result.output
    assert "128x64 (8)" in result.output
    (paired_dir / "zz.png").write_bytes(b"junk")
    result = runner.invoke(app, ["check", str(paired_dir)])
    assert result.exit_code == 1 and "1 problem(s):" in result.output and "zz.png: not an image (it holds text)" in result.output


def test_python_dash_m_runs_the_cli():
    proc = subprocess.run([sys.executable, "-m", "translate", "models"], capture_output=True, text=True)
    assert proc.returncode == 0 and "pix2pix" in proc.stdout


def test_export_writes_a_program_with_the_same_outputs(runner, trained, tmp_path):
    import torch

    from translate import api

    out = tmp_path / "g.pt2"
    result = runner.invoke(app, ["export", str(trained), str(out)])
    assert result.exit_code == 0, result.output
    assert "max difference from the model" in result.output
    model, _ = api.load_run(trained)
    model.eval()  # the default inference mode with dropout off, as export writes it
    x = torch.rand(5, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(torch.export.load(out).module()(x), model.translate(x), atol=1e-5)
    line = one_line_error(runner.invoke(app, ["export", str(trained), str(tmp_path / "g.pt")]))
    assert line == f"error: {tmp_path / 'g.pt'}: export writes *.onnx (ONNX) or *.pt2 (torch.export); name the file so, or give --format"


def test_evaluate_scores_a_paired_run(runner, trained, paired_dir):
    import csv

    result = runner.invoke(app, ["evaluate", str(trained), str(paired_dir)])
    assert result.exit_code == 0, result.output
    assert "8 pairs from" in result.output and "psnr" in result.output and "ssim" in result.output
    rows = list(csv.DictReader(open(trained / "eval" / "paired.csv")))
    assert len(rows) == 8 and all(0 < float(r["psnr"]) < 100 and -1 <= float(r["ssim"]) <= 1 for r in rows)


def test_option_values_take_their_field_types(runner, paired_dir, tmp_path):
    from translate import api

    result = fit(runner, paired_dir, tmp_path, "--opt", "lr=1e-3", "--opt", "dropout=false", "--name", "typed")
    assert result.exit_code == 0, result.output
    cfg = api.load_config(tmp_path / "runs" / "typed")
    opts = cfg.model_opts  # the model's own typed Config, built once
    assert (opts.ngf, opts.ndf, opts.lr, opts.dropout, opts.lambda_l1) == (4, 4, 0.001, False, 100.0)
    line = one_line_error(fit(runner, paired_dir, tmp_path, "--opt", "ngf=wide"))
    assert line == "error: 'model.ngf' must be int, not 'wide'"
    bad = tmp_path / "c.yaml"
    bad.write_text("train:\n  ema: 1e-3\n  batch_size: two\n")
    line = one_line_error(runner.invoke(app, ["fit", "--config", str(bad), "--paired", str(paired_dir)]))
    assert line == "error: 'train.batch_size' must be int, not 'two'"
