"""The 2-D theory lab (translate lab): the command's page, the optimal discriminator and the Jensen-Shannon
estimate on cases with a known answer, and what each stabiliser of the gan model changes."""

from __future__ import annotations

import math
import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from typer.testing import CliRunner

from translate.cli import app
from translate.errors import UserError
from translate import lab
from translate.lab import jensen_shannon, log_kde, optimal_discriminator
from translate.registry import create_model
from translate.types import DataInfo

TOY = DataInfo(input_nc=0, output_nc=0, size=0, dim=2)
PNG = b"\x89PNG\r\n\x1a\n"


class Fixed(nn.Module):
    """A stand-in D: logit +``level`` where x > 5 (the 'real' side), -``level`` elsewhere; it records its inputs."""

    def __init__(self, level: float):
        super().__init__()
        self.level, self.seen = level, []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return torch.where(x[:, 0] > 5, self.level, -self.level)


def _gan(**opts):
    torch.manual_seed(0)
    return create_model("gan", TOY, {"hidden": 8, **opts})


def test_lab_command_writes_the_page_its_pngs_and_a_row_per_setting(tmp_path):
    out = tmp_path / "lab"
    r = CliRunner().invoke(app, ["lab", "--out", str(out), "--toys", "ring8", "--models", "gan,wgan_gp", "--steps", "30", "--seeds", "2"])
    assert r.exit_code == 0, r.output
    page = (out / "index.html").read_text()
    images = re.findall(r'<img src="([^"]+)"', page)
    assert set(images) == {"ring8_samples.png", "ring8_dstar.png", "ring8_js.png", "ring8_wasserstein.png", "stabilisers.png"}
    for name in images:
        assert (out / name).read_bytes()[:8] == PNG, name
    assert "Jensen-Shannon" in page
    rows = re.findall(r"<tr><td>(.*?)</td></tr>", page)
    settings = [tuple(row.split("</td><td>")[:3]) for row in rows]
    assert settings == [("ring8", "gan", s) for s in ("none", "feature_matching", "minibatch", "label_smoothing", "instance_noise", "d_steps")] \
        + [("ring8", "wgan_gp", "none")]
    iterations = {"d_steps": 150, "none": 30}  # 30 generator steps: k = 5 critic steps each take 5 batches
    for row in rows:
        cells = row.split("</td><td>")
        assert cells[3:5] == [f"30 ({150 if 'wgan_gp' in cells[1] else iterations.get(cells[2], 30)})", "2"]
        assert re.fullmatch(r"\d\.\d ± \d\.\d / 8", cells[5]) and re.fullmatch(r"\d+\.\d ± \d+\.\d", cells[6])
    assert (out / "table.md").read_text().count("\n") == 2 + len(rows)
    bad = CliRunner().invoke(app, ["lab", "--out", str(out), "--toys", "ring9"])
    assert bad.exit_code == 2 and "--toys takes names from ring8, grid25, swissroll, not 'ring9'" in bad.output


def test_a_run_counts_generator_steps_and_the_critics_take_theirs_between():
    wgan = create_model("wgan", TOY, {"hidden": 8})  # the authors' schedule: 100 critic steps for the first 25
    assert lab.iterations_for(wgan, 30) == 25 * 100 + 5 * 5
    assert lab.iterations_for(_gan(), 30) == 30 and lab.iterations_for(_gan(d_steps=3), 30) == 90
    _, result = lab.train("ring8", "wgan_gp", "none", 0, 4)
    assert result.iterations == 20 and result.curve[-1]["step"] == 20 and result.curve[-1]["g_step"] == 4


def test_kde_and_the_optimal_discriminator_on_known_cases():
    assert float(log_kde(torch.zeros(1, 2), torch.zeros(1, 2), 1.0)) == pytest.approx(-math.log(2 * math.pi))
    torch.manual_seed(0)
    data = torch.randn(300, 2)
    x = torch.randn(50, 2) * 3
    same = optimal_discriminator(data, data.clone(), x, 0.3)  # p_g = p_data: D* = 1/2 everywhere
    assert torch.equal(same, torch.full_like(same, 0.5))
    fake = torch.randn(300, 2) * 0.1 + 10  # disjoint supports: D* ~ 1 on the data, ~ 0 on G's samples
    assert optimal_discriminator(data, fake, data[:100], 0.3).min() > 0.999
    assert optimal_discriminator(data, fake, fake[:100], 0.3).max() < 0.001


def test_the_jensen_shannon_estimate_from_the_gan_discriminator_step():
    m = _gan()
    real, fake = torch.full((64, 2), 10.0), torch.zeros(64, 2)  # disjoint supports
    m.netD = Fixed(60.0)  # a perfect, confident D: V = 0 -> JSD = log 2
    out = m.discriminator_step({"image": real}, {"fake": fake})
    assert jensen_shannon(float(out["V"])) == pytest.approx(math.log(2), abs=1e-12)
    assert (float(out["D_real_prob"]), float(out["D_fake_prob"])) == pytest.approx((1.0, 0.0), abs=1e-20)
    m.netD = Fixed(0.0)  # D = 1/2 everywhere: V = -log 4 -> JSD = 0
    out = m.discriminator_step({"image": real}, {"fake": fake})
    assert jensen_shannon(float(out["V"])) == pytest.approx(0.0, abs=1e-6)
    assert float(out["D_fake_prob"]) == 0.5


def test_one_sided_label_smoothing_sets_the_real_target_to_0_9():
    real, fake = torch.full((8, 2), 10.0), torch.zeros(8, 2)
    expected = F.binary_cross_entropy_with_logits(torch.full((8,), 20.0), torch.full((8,), 0.9)) \
        + F.binary_cross_entropy_with_logits(torch.full((8,), -20.0), torch.zeros(8))
    smooth = _gan(label_smoothing=0.1)
    smooth.netD = Fixed(20.0)
    plain = _gan()
    plain.netD = Fixed(20.0)
    assert float(smooth.discriminator_step({"image": real}, {"fake": fake})["total"]) == pytest.approx(float(expected), rel=1e-6)
    assert float(expected) == pytest.approx(2.0, abs=1e-6)  # 20 * (1 - 0.9) for a confident D
    assert float(plain.discriminator_step({"image": real}, {"fake": fake})["total"]) < 1e-8
    with pytest.raises(UserError, match="label_smoothing"):
        _gan(label_smoothing=1.0)


def test_instance_noise_reaches_d_with_the_annealed_std():
    m = _gan(instance_noise=0.5, instance_noise_steps=10)
    m.netD = Fixed(0.0)
    x = torch.zeros(20000, 2)
    for g_step, std in ((0, 0.5), (5, 0.25), (10, 0.0), (12, 0.0)):
        m.g_step = g_step
        assert m.noise_std() == std
        m.netD.seen.clear()
        m.discriminator_step({"image": x}, {"fake": x})
        m.generator_step({"image": x}, {"fake": x})
        assert len(m.netD.seen) == 3  # real and fake in the D step, fake in the G step
        for seen in m.netD.seen:
            assert float(seen.std()) == pytest.approx(std, abs=0.01)
    assert _gan().noise_std() == 0.0


def test_feature_matching_makes_g_loss_the_feature_distance():
    m = _gan(feature_matching=True)
    real, fake = torch.randn(32, 2), m.netG.sample(32)
    out = m.generator_step({"image": real}, {"fake": fake})
    want = (m.netD.features(fake).mean(0) - m.netD.features(real).mean(0)).pow(2).sum().detach()
    assert set(out) == {"total", "G_FM"} and float(out["total"].detach()) == pytest.approx(float(want), rel=1e-6)
    assert m.netD.features(real).shape == (32, 8)
    assert float(m.generator_step({"image": real}, {"fake": real.clone()})["total"].detach()) == 0.0
    out["total"].backward()  # G learns from it
    assert all(p.grad is not None for p in m.netG.parameters())


def test_minibatch_discrimination_makes_one_score_depend_on_the_batch():
    x = torch.randn(16, 2)
    other = x.clone()
    other[1:] = torch.randn(15, 2) * 3
    mbd = _gan(minibatch_kernels=5)
    assert mbd.netD(x).shape == (16,)
    assert not torch.allclose(mbd.netD(x)[0], mbd.netD(other)[0])
    plain = _gan()
    assert torch.equal(plain.netD(x)[0], plain.netD(other)[0])
    with pytest.raises(UserError, match="minibatch_kernels"):
        create_model("gan", DataInfo(input_nc=3, output_nc=3, size=32), {"ngf": 8, "ndf": 8, "minibatch_kernels": 5})


def test_runs_in_worker_processes_equal_the_same_runs_in_this_one(tmp_path):
    settings = dict(toys=["ring8"], models=["gan"], steps=12, seeds=2, stabilisers=["none", "label_smoothing"])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each worker
    try:
        here = lab.run_lab(tmp_path / "here", **settings, workers=1)
    finally:
        torch.set_num_threads(threads)
    spawned = lab.run_lab(tmp_path / "spawned", **settings, workers=2, threads=1)
    assert [(r.stabiliser, r.seed) for r in spawned["results"]] == [("none", 0), ("none", 1), ("label_smoothing", 0), ("label_smoothing", 1)]
    assert [r.curve for r in here["results"]] == [r.curve for r in spawned["results"]]  # every logged value, exactly
