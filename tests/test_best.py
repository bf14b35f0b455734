"""Keep the best checkpoint: evaluation every N steps, checkpoints/best.pt and generator_best.pt, --weights."""

from __future__ import annotations

import csv
import dataclasses

import pytest
import torch

from translate import api, metrics
from translate.cli import app
from translate.engine import run_folder
from translate.errors import ArgumentError
from translate.files import safe_load
from tests.conftest import tiny_paired_config
from tests.test_metrics import StandIn


@pytest.fixture
def small_paired(tmp_path):
    from translate.data.synthetic import make_paired

    return make_paired(tmp_path / "paired", n=6, size=32)


def _cfg(root, runs, **train):
    cfg = tiny_paired_config(root, runs, steps=6, log_every=3, sample_every=100, checkpoint_every=100, **train)
    return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, load_size=32, crop_size=32))


def _no_inception(monkeypatch):
    def missing(path=None):
        raise ArgumentError("FID and KID need the Inception weights: pass {inception}=PATH", "inception")

    monkeypatch.setattr(metrics, "load_inception", missing)


def _scripted(monkeypatch, values):
    """The evaluation's L1 scores, in order (the other scores as computed)."""
    real, script = metrics.paired_scores, iter(values)

    def scores(*args, **kwargs):
        rows, failed, fid = real(*args, **kwargs)
        value = next(script)
        return [{**r, "l1": value} for r in rows], failed, fid

    monkeypatch.setattr(metrics, "paired_scores", scores)


def _rows(run):
    with open(run / run_folder.METRICS, newline="") as fh:
        return list(csv.DictReader(fh))


def test_eval_every_keeps_the_best_weights_and_leaves_training_as_it_was(small_paired, tmp_path, monkeypatch):
    _no_inception(monkeypatch)
    plain = api.fit(_cfg(small_paired, tmp_path / "plain"), progress=False)
    result = api.fit(_cfg(small_paired, tmp_path / "runs", eval_every=2, eval_data=str(small_paired), best_state=True),
                     progress=False)
    run = result["run_dir"]
    scored = {int(r["step"]): float(r["eval_l1"]) for r in _rows(run) if r.get("eval_l1")}
    assert sorted(scored) == [2, 4, 6] and all("eval_psnr" in r and "eval_fid" not in r for r in _rows(run))
    best_step = min(scored, key=scored.get)
    assert result["best"]["step"] == best_step and result["best"]["score"] == "l1"
    best = safe_load(run / run_folder.CHECKPOINTS / run_folder.BEST)
    assert best["step"] == best_step and best["best"] == result["best"]
    weights = safe_load(run / run_folder.WEIGHTS_BEST)["state"]
    assert all(torch.equal(v, best["model"][k]) for k, v in weights.items())
    # the evaluation draws nothing from torch's generator and leaves the model in train mode
    same, other = safe_load(run / run_folder.WEIGHTS)["state"], safe_load(plain["weights"])["state"]
    assert all(torch.equal(v, other[k]) for k, v in same.items())


def test_weights_best_or_last_and_the_cli_says_which(small_paired, tmp_path, monkeypatch, runner):
    _no_inception(monkeypatch)
    _scripted(monkeypatch, [0.5, 0.1, 0.9])  # steps 2, 4, 6: the best is step 4, not the last
    run = api.fit(_cfg(small_paired, tmp_path / "runs", eval_every=2, eval_data=str(small_paired)), progress=False)["run_dir"]
    assert not (run / run_folder.CHECKPOINTS / run_folder.BEST).exists()  # the best weights only, unless asked
    best, _ = api.load_run(run)
    last, _ = api.load_run(run, weights="last")
    kept = safe_load(run / run_folder.WEIGHTS_BEST)["state"]
    assert all(torch.equal(v, kept[k]) for k, v in best.inference_state().items())
    assert not all(torch.equal(v, last.inference_state()[k]) for k, v in best.inference_state().items())
    monkeypatch.undo()  # scoring as it is, for evaluate below
    for flag, used in (([], run_folder.WEIGHTS_BEST), (["--weights", "last"], run_folder.WEIGHTS)):
        out = runner.invoke(app, ["convert", str(run), str(small_paired), str(tmp_path / f"out{len(flag)}"), "--ab", "left",
                                  "--device", "cpu", *flag])
        assert out.exit_code == 0, out.output
        assert f"weights: {run / used}" in out.output
        scored = runner.invoke(app, ["evaluate", str(run), str(small_paired), "--no-fid", "--device", "cpu", *flag])
        assert scored.exit_code == 0 and f"weights: {run / used}" in scored.output, scored.output
    plain = api.fit(_cfg(small_paired, tmp_path / "plain"), progress=False)["run_dir"]
    assert api.load_run(plain)[0] is not None  # no best: the last weights
    with pytest.raises(ArgumentError, match="eval_every"):
        api.load_run(plain, weights="best")


def test_resume_keeps_the_best_score(small_paired, tmp_path, monkeypatch):
    _no_inception(monkeypatch)
    _scripted(monkeypatch, [0.2, 0.1, 0.3])
    cfg = _cfg(small_paired, tmp_path / "runs", eval_every=2, eval_data=str(small_paired), best_state=True)
    first = api.fit(dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, steps=4)), progress=False)
    assert first["best"]["step"] == 4
    resumed = api.resume(first["run_dir"], {"steps": 6}, progress=False)
    assert resumed["best"] == {"step": 4, "score": "l1", "value": pytest.approx(0.1)}
    assert safe_load(first["run_dir"] / run_folder.CHECKPOINTS / run_folder.BEST)["step"] == 4


def test_fid_chooses_the_best_when_the_inception_loads(small_paired, tmp_path, monkeypatch):
    monkeypatch.setattr(metrics, "load_inception", lambda path=None: StandIn())
    result = api.fit(_cfg(small_paired, tmp_path / "runs", eval_every=3, eval_data=str(small_paired)), progress=False)
    rows = [r for r in _rows(result["run_dir"]) if r.get("eval_fid")]
    assert [int(r["step"]) for r in rows] == [3, 6] and all(r["eval_l1"] for r in rows)
    assert result["best"]["score"] == "fid"
    assert int(min(rows, key=lambda r: float(r["eval_fid"]))["step"]) == result["best"]["step"]


def test_unpaired_evaluation_needs_the_inception_before_a_run_folder(tmp_path, monkeypatch):
    from translate.data.synthetic import make_unpaired

    _no_inception(monkeypatch)
    data = make_unpaired(tmp_path / "unpaired", n=4, size=32)
    cfg = api.resolve_config({"model": "cyclegan", "model_opts": {"ngf": 4, "ndf": 4},
                              "data": {"layout": "unpaired", "root": str(data), "load_size": 32, "crop_size": 32},
                              "train": {"steps": 2, "eval_every": 1, "eval_data": str(data)},
                              "run": {"runs_dir": str(tmp_path / "runs")}})
    with pytest.raises(ArgumentError, match="inception") as err:
        api.fit(cfg, progress=False)
    assert {"eval_every", "inception"} <= set(err.value.names)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_evaluate_scores_pairs_at_the_crop_size_as_the_run_did(tmp_path, monkeypatch, runner):
    """One resize rule: by default the command scores 40x40 pairs at the run's crop size (32), as --eval-every
    did; --size N still scores them at N x N."""
    import json

    from translate.data.synthetic import make_paired

    _no_inception(monkeypatch)
    pairs = make_paired(tmp_path / "pairs40", n=4, size=40)
    cfg = _cfg(pairs, tmp_path / "runs", eval_every=6, eval_data=str(pairs))
    run = api.fit(dataclasses.replace(cfg, model_opts={"ngf": 4, "ndf": 4, "dropout": False}), progress=False)["run_dir"]
    (logged,) = [r for r in _rows(run) if r.get("eval_l1")]
    for flags, same in (([], True), (["--size", "40"], False)):
        result = runner.invoke(app, ["evaluate", str(run), str(pairs), "--no-fid", "--device", "cpu", "--weights", "last", *flags])
        assert result.exit_code == 0, result.output
        scored = json.loads((run / "eval" / "pairs40.json").read_text())
        assert scored["size"] == (40 if flags else 32)
        agree = [scored["summary"][k][0] == pytest.approx(float(logged[f"eval_{k}"]), rel=1e-4) for k in ("l1", "psnr", "ssim")]
        assert agree == [same] * 3, (flags, scored["summary"], logged)
