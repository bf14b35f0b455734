"""``paper``: a model's paper and official settings, one flag away from defaults that depart from them."""

from __future__ import annotations

import dataclasses

import torch
import yaml

from translate import api
from translate.cli import app
from translate.registry import create_model, get_model_class, list_models
from translate.types import DataInfo

PIX2PIX_DEPARTURES = {"spectral_norm": (True, False), "lambda_fm": (10.0, 0.0), "gan_mode": ("hinge", "vanilla")}


def _resolve(tmp_path, **sections):
    return api.resolve_config({"data": {"root": str(tmp_path)}, **sections})


def test_paper_gives_pix2pix_the_papers_discriminator_loss_and_no_average_and_changes_nothing_else(tmp_path):
    ours, paper = _resolve(tmp_path), _resolve(tmp_path, train={"paper": True})
    for name, (default, papers) in PIX2PIX_DEPARTURES.items():
        assert (getattr(ours.model_opts, name), getattr(paper.model_opts, name)) == (default, papers), name
    assert (ours.train.ema, paper.train.ema) == (0.999, 0.0)
    assert dataclasses.replace(paper.model_opts, **{k: v[0] for k, v in PIX2PIX_DEPARTURES.items()}) == ours.model_opts
    assert dataclasses.replace(paper.train, paper=False, ema=0.999) == ours.train and paper.data == ours.data


def test_options_given_beside_paper_win_over_it_from_flags_and_from_a_config_file(tmp_path):
    both = _resolve(tmp_path, train={"paper": True, "ema": 0.99}, model_opts={"lambda_fm": 5})
    assert (both.train.ema, both.model_opts.lambda_fm, both.model_opts.spectral_norm) == (0.99, 5.0, False)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"train": {"paper": True}, "model_opts": {"gan_mode": "lsgan"}}))
    from_file = api.resolve_config({"data": {"root": str(tmp_path)}}, path)
    assert (from_file.train.paper, from_file.model_opts.gan_mode, from_file.model_opts.spectral_norm) == (True, "lsgan", False)
    undone = api.resolve_config({"data": {"root": str(tmp_path)}, "train": {"paper": False}}, path)  # the flag wins over the file
    assert (undone.train.paper, undone.model_opts.spectral_norm, undone.model_opts.gan_mode) == (False, True, "lsgan")


def test_a_model_whose_defaults_are_its_papers_is_unchanged_by_paper(tmp_path):
    plain = [n for n in list_models() if not get_model_class(n).paper_settings]
    assert "cyclegan" in plain and "pix2pix" not in plain
    for name in plain:
        ours = _resolve(tmp_path, model=name)
        paper = _resolve(tmp_path, model=name, train={"paper": True})
        assert dataclasses.replace(paper, train=dataclasses.replace(paper.train, paper=False)) == ours, name


def test_fit_with_paper_saves_it_and_names_it_in_the_config_it_prints(runner, paired_dir, tmp_path):
    result = runner.invoke(app, ["fit", "--paired", str(paired_dir), "--runs-dir", str(tmp_path), "--name", "p", "--paper", "--steps", "1",
                                 "--load-size", "32", "--crop-size", "32", "--ngf", "4", "--ndf", "4"])
    assert result.exit_code == 0, result.output
    assert f"config: pix2pix's paper settings (--paper), except these (all of it in {tmp_path / 'p' / 'config.yaml'}):" in result.output
    assert "model.spectral_norm" not in result.output and "  model.ngf: 4" in result.output
    saved = api.load_config(tmp_path / "p")
    assert (saved.train.paper, saved.train.ema, saved.model_opts.spectral_norm, saved.model_opts.gan_mode) == (True, 0.0, False, "vanilla")
    model = create_model("pix2pix", DataInfo(size=32), saved.model_opts)
    assert sum(type(m).__name__ == "BatchNorm2d" for m in model.netD.modules()) == 3  # the paper's D: batch norm, no spectral norm


def test_models_lists_the_paper_settings_of_each_model(runner):
    text = " ".join(runner.invoke(app, ["models", "pix2pix"]).output.split())
    assert "the paper's settings (--paper): spectral_norm=False, lambda_fm=0.0, gan_mode=vanilla, ema=0.0" in text
    assert "the paper's settings (--paper): the defaults" in runner.invoke(app, ["models", "cyclegan"]).output


TINY = ["--load-size", "32", "--crop-size", "32", "--ngf", "4", "--ndf", "4"]
NEW = ("spectral_norm:", "lambda_fm:", "lr_d:", "paper:")  # the keys a pix2pix run saved before them lacks


def _fit(runner, data, runs, name, *extra):
    result = runner.invoke(app, ["fit", "--paired", str(data), "--runs-dir", str(runs), "--name", name, *TINY, *extra])
    assert result.exit_code == 0, result.output
    return runs / name


def _as_saved_before(run):
    """The run's config.yaml as a version before these options wrote it."""
    path = run / "config.yaml"
    lines = path.read_text().splitlines()
    kept = [ln for ln in lines if not ln.strip().startswith(NEW)]
    assert len(kept) == len(lines) - len(NEW)
    path.write_text("\n".join(kept) + "\n")


def test_a_run_saved_before_the_new_options_resumes_and_replays_as_it_was_trained(runner, paired_dir, tmp_path):
    run = _fit(runner, paired_dir, tmp_path, "old", "--paper", "--steps", "1")
    _as_saved_before(run)
    old = api.load_config(run)
    assert (old.model_opts.spectral_norm, old.model_opts.lambda_fm, old.model_opts.lr_d, old.model_opts.gan_mode) == (False, 0.0, 0.0, "vanilla")
    result = runner.invoke(app, ["fit", "--resume", str(run), "--steps", "2"])  # its batch-norm D's checkpoint loads
    assert result.exit_code == 0 and "done: step 2/2" in result.output, result.output
    replay = api.resolve_config({}, run / "config.yaml")  # training from the file again replays the run
    assert (replay.model_opts.spectral_norm, replay.model_opts.lambda_fm) == (False, 0.0)
    mine = tmp_path / "mine.yaml"  # a file written by hand, with some options, takes today's defaults for the rest
    mine.write_text(yaml.safe_dump({"model": "pix2pix", "model_opts": {"ngf": 8, "gan_mode": "vanilla"}}))
    assert api.resolve_config({}, mine).model_opts.spectral_norm is True


def test_init_from_a_paper_run_takes_its_generator_and_starts_the_other_discriminator_fresh(runner, paired_dir, tmp_path):
    source = _fit(runner, paired_dir, tmp_path, "paper", "--paper", "--steps", "1")
    result = runner.invoke(app, ["fit", "--paired", str(paired_dir), "--runs-dir", str(tmp_path), "--name", "tuned", *TINY,
                                 "--init-from", str(source), "--steps", "1", "--lr", "0"])
    assert result.exit_code == 0, result.output
    assert "netD is built otherwise here than in that run" in " ".join(result.output.split())
    tuned = tmp_path / "tuned"
    from translate.files import safe_load

    theirs, ours = safe_load(source / "generator.pt")["state"], safe_load(tuned / "generator.pt")["state"]
    assert set(theirs) == set(ours) and all(torch.equal(theirs[k], ours[k]) for k in theirs if "running" not in k and "num_batches" not in k)
