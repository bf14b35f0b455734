"""The generative family: gan, cgan, wgan, wgan_gp, their data, the sample command and the 2-D lab."""

from __future__ import annotations


import numpy as np
import pytest
import torch
from PIL import Image

from translate import losses
from translate.cli import app
from translate.config import Config, TrainConfig
from translate.engine.trainer import Trainer
from translate.errors import UserError
from translate.types import DataInfo
from translate.registry import create_model

IMG = DataInfo(input_nc=3, output_nc=3, size=32)
TINY = {"ngf": 8, "ndf": 8, "nz": 8}


# -- the gradient penalty ------------------------------------------------------------------------
def _linear_critic(weight_norm: float, dim: int = 6):
    lin = torch.nn.Linear(dim, 1)
    with torch.no_grad():
        w = torch.randn(1, dim)
        lin.weight.copy_(w / w.norm() * weight_norm)
    return lambda x, *extra: lin(x).flatten()


def test_gradient_penalty_is_zero_for_a_unit_gradient_critic():
    torch.manual_seed(0)
    real, fake = torch.randn(16, 6), torch.randn(16, 6)
    gp = losses.gradient_penalty(_linear_critic(1.0), real, fake)
    assert gp.item() == pytest.approx(0.0, abs=1e-10)
    # ||grad|| = 3 everywhere: 10 * (3 - 1)^2 = 40; extra critic inputs (labels) pass through
    gp3 = losses.gradient_penalty(_linear_critic(3.0), real, fake, torch.zeros(16, dtype=torch.long))
    assert gp3.item() == pytest.approx(40.0, rel=1e-5)
    # image-shaped inputs: the norm is over all of a sample's elements
    conv = torch.nn.Conv2d(3, 1, 4)
    with torch.no_grad():
        conv.weight.div_(conv.weight.norm())
    critic = lambda x: conv(x).flatten()  # noqa: E731  one output per 4x4 image: gradient = the weight
    assert losses.gradient_penalty(critic, torch.randn(4, 3, 4, 4), torch.randn(4, 3, 4, 4)).item() == pytest.approx(0.0, abs=1e-9)


def test_wgan_gp_trains_its_critic_through_the_penalty():
    torch.manual_seed(0)
    m = create_model("wgan_gp", IMG, TINY)
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    d = m.discriminator_step({"image": x}, {"fake": m.netG.sample(4).detach()})
    assert d["GP"].item() > 0 and d["GP"].requires_grad
    assert not any(isinstance(mod, torch.nn.BatchNorm2d) for mod in m.netD.modules()), "WGAN-GP's critic has no batch norm"


# -- label conditioning ----------------------------------------------------------------------------
@pytest.mark.parametrize("embed_dim", [0, 4])
def test_label_conditioning_reaches_g_and_d(embed_dim):
    torch.manual_seed(0)
    info = DataInfo(input_nc=3, output_nc=3, size=32, class_names=("a", "b", "c"))
    m = create_model("cgan", info, {**TINY, "embed_dim": embed_dim}).eval()
    z = torch.randn(2, m.netG.nz)
    y0, y1 = torch.zeros(2, dtype=torch.long), torch.ones(2, dtype=torch.long)
    with torch.no_grad():
        assert not torch.allclose(m.netG(z, y0), m.netG(z, y1)), "G ignores the label"
        x = torch.rand(2, 3, 32, 32) * 2 - 1
        assert not torch.allclose(m.netD(x, y0), m.netD(x, y1)), "D ignores the label"
    if embed_dim:  # learned embeddings are trained: D's by the D step, G's by the G step
        m.train()
        batch = {"image": x, "label": torch.tensor([0, 2])}
        fakes = m.fake(batch)
        m.discriminator_step(batch, {k: v.detach() for k, v in fakes.items()})["total"].backward()
        assert m.netD.code.embed.weight.grad.abs().sum() > 0 and m.netG.code.embed.weight.grad is None
        m.zero_grad(set_to_none=True)
        m.generator_step(batch, fakes)["total"].backward()
        assert m.netG.code.embed.weight.grad.abs().sum() > 0


def test_cgan_visuals_have_a_column_per_class():
    info = DataInfo(input_nc=3, output_nc=3, size=32, class_names=("cat", "dog"))
    m = create_model("cgan", info, TINY)
    v = m.visuals({}, {})
    assert list(v) == ["cat", "dog"] and v["cat"].shape == (8, 3, 32, 32)


# -- the critic schedule and clipping ----------------------------------------------------------------
def _g_steps_taken(model, name, batch, iterations, **opts):
    """Which of ``iterations`` train steps changed G, with the trainer."""
    trainer = Trainer.for_step(Config(model=name, train=TrainConfig(channels_last=False)), model, torch.device("cpu"))
    took = []
    for _ in range(iterations):
        before = [p.detach().clone() for p in model.netG.parameters()]
        out = trainer.train_step(batch)
        trainer.step += 1
        moved = any(not torch.equal(a, b) for a, b in zip(before, model.netG.parameters()))
        assert moved == ("G" in out)
        took.append(moved)
    return trainer, took


def test_wgan_clipping_optimizers_and_the_authors_critic_schedule():
    torch.manual_seed(0)
    m = create_model("wgan", DataInfo(dim=2), {"hidden": 8})
    assert [m.critic_steps(g) for g in (0, 24, 25, 26, 499, 500, 501, 1000)] == [100, 100, 5, 5, 5, 100, 5, 100]
    batch = {"image": torch.randn(4, 2)}
    trainer, took = _g_steps_taken(m, "wgan", batch, 205)
    assert all(isinstance(o, torch.optim.RMSprop) and o.param_groups[0]["lr"] == 5e-5 for o in trainer.optimizers.values())
    assert all(p.abs().max() <= 0.01 + 1e-12 for p in m.netD.parameters()), "critic weights left [-c, c]"
    assert [i for i, t in enumerate(took) if t] == [99, 199], "100 critic steps before each early generator step"
    # the position in the schedule is a function of the step: replayed after a jump (resume) as followed
    for step, expected in ((205, (2, 5)), (2500, (25, 0)), (2600, (45, 0)), (2603, (45, 3))):
        trainer.step = step
        assert trainer._critic_position() == expected, step
    fixed = create_model("wgan", DataInfo(dim=2), {"hidden": 8, "critic_schedule": "fixed"})
    assert fixed.critic_steps(0) == fixed.critic_steps(500) == 5
    with pytest.raises(UserError, match="critic_schedule"):
        create_model("wgan", DataInfo(dim=2), {"critic_schedule": "paper"})


def test_the_generator_step_draws_new_noise_where_the_algorithm_does():
    """GAN, WGAN(-GP) and CGAN: G's step gets a fresh z (Algorithm 1), pix2pix/CycleGAN reuse D's fakes."""
    for name, fresh in (("gan", True), ("wgan_gp", True), ("pix2pix", False), ("cyclegan", False)):
        torch.manual_seed(0)
        info = DataInfo(dim=2) if name in ("gan", "wgan_gp") else DataInfo(size=32)
        model = create_model(name, info, {"hidden": 8} if info.dim else {"ngf": 4, "ndf": 4})
        assert model.fresh_noise_for_g is fresh
        calls, fake = [], model.fake
        model.fake = lambda batch: calls.append(torch.is_grad_enabled()) or fake(batch)
        trainer = Trainer.for_step(Config(model=name, train=TrainConfig(channels_last=False)), model, torch.device("cpu"))
        if name == "wgan_gp":
            trainer.step = 4  # the iteration whose critic step completes the 5 before a generator step
        batch = {"image": torch.randn(4, 2)} if info.dim else {"A": torch.rand(1, 3, 32, 32), "B": torch.rand(1, 3, 32, 32)}
        out = trainer.train_step(batch)
        assert "G" in out and "D" in out
        # fresh: the critic's fakes without a graph, then G's own; reused: one pass, with the graph G needs
        assert calls == ([False, True] if fresh else [True]), name
    assert create_model("cgan", DataInfo(size=32, class_names=("a", "b")), TINY).fresh_noise_for_g


def test_d_steps_option_and_paper_optimizers():
    assert create_model("gan", IMG, {**TINY, "d_steps": 3}).critic_steps(0) == 3
    assert create_model("gan", IMG, TINY).critic_steps(7) == 1
    gp = create_model("wgan_gp", IMG, TINY)
    spec = gp.optimizers()["D"]
    assert gp.critic_steps(0) == gp.critic_steps(500) == 5 and (spec.kind, spec.lr, spec.betas) == ("adam", 1e-4, (0.0, 0.9))
    with pytest.raises(UserError, match="d_steps"):
        create_model("gan", IMG, {**TINY, "d_steps": 0})


@pytest.mark.parametrize("size,blocks", [(32, 3), (64, 4), (128, 5)])
def test_dcgan_depth_follows_the_image_size(size, blocks):
    info = DataInfo(input_nc=3, output_nc=3, size=size)
    m = create_model("gan", info, TINY)
    out = m.sample(2)
    assert out.shape == (2, 3, size, size)
    assert m.netD(out).shape == (2,)
    strided = [c for c in m.netD.modules() if isinstance(c, torch.nn.Conv2d) and c.stride == (2, 2)]
    assert len(strided) == blocks


def test_saturating_option_changes_the_generator_loss():
    pred = torch.full((4,), -6.0)  # D is sure the fakes are fake
    sat = losses.g_loss(pred.requires_grad_(), "vanilla", saturating=True)
    (g_sat,) = torch.autograd.grad(sat, pred)
    ns = losses.g_loss(pred, "vanilla")
    (g_ns,) = torch.autograd.grad(ns, pred)
    assert g_sat.abs().sum() < 0.01 * g_ns.abs().sum()  # the minimax loss's gradient vanishes


# -- data --------------------------------------------------------------------------------------------
def test_labelled_and_images_layouts(tmp_path):
    from translate.data import build_dataset
    from translate.config import DataConfig
    from translate.data.synthetic import make_labelled

    root = make_labelled(tmp_path / "lab", n=6, size=40)
    (root / "empty").mkdir()
    notes = []
    cfg = DataConfig(root=str(root), layout="labelled", load_size=32, crop_size=32)
    ds = build_dataset(cfg, "labelled", "cgan", 0, note=notes.append)
    assert ds.info.class_names == ("circle", "square", "triangle") and len(ds) == 6
    assert any("empty" in n for n in notes)
    s = ds[0]
    assert s["image"].shape == (3, 32, 32) and s["label"] in (0, 1, 2)
    plain = build_dataset(DataConfig(root=str(root / "circle"), layout="images", load_size=32, crop_size=32), "unconditional", "gan", 0)
    assert "label" not in plain[0] and plain.info.num_classes == 0


def test_toy_layout_and_coverage():
    from translate.data import build_dataset
    from translate.config import DataConfig
    from translate.data.toy import get_toy
    from translate.errors import UserError
    from translate.mode_coverage import mode_coverage, toy_coverage

    ds = build_dataset(DataConfig(root="ring8", layout="toy"), "unconditional", "gan", 0)
    assert ds.info.dim == 2 and ds[3]["image"].shape == (2,)
    with pytest.raises(UserError, match="grid25"):
        build_dataset(DataConfig(root="ring9", layout="toy"), "unconditional", "gan", 0)
    rng = np.random.default_rng(0)
    for name in ("ring8", "grid25", "swissroll"):
        cov = toy_coverage(name, get_toy(name).sample(2500, rng))
        assert cov.covered == cov.modes and cov.high_quality > 0.97
    grid = get_toy("grid25")
    one = toy_coverage("grid25", np.repeat(grid.centers[:1], 2500, 0))
    assert (one.covered, one.high_quality) == (1, 1.0)
    few = mode_coverage(grid.centers[:3].repeat(19, 0), grid.centers, 0.05)  # 19 < 20 samples per mode
    assert few.covered == 0 and few.high_quality == 1.0
    assert toy_coverage("grid25", np.full((2500, 2), 1.0)).high_quality == 0.0  # between the modes


# -- the sample command --------------------------------------------------------------------------------
def _fit(runner, tmp_path, *args):
    result = runner.invoke(app, ["fit", *args, "--image-size", "32", "--steps", "2", "--batch-size", "2",
                                 "--device", "cpu", "--runs-dir", str(tmp_path / "runs"), "--opt", "ngf=8",
                                 "--opt", "ndf=8", "--opt", "nz=8", "--log-every", "1"])
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "runs").iterdir()
    return run


def test_sample_is_reproducible_with_a_seed(runner, tmp_path):
    from translate.data.synthetic import make_labelled

    root = make_labelled(tmp_path / "lab", n=6, size=40)
    run = _fit(runner, tmp_path, "--images", str(root / "circle"), "--model", "gan")
    outs = []
    for seed, name in ((1, "a"), (1, "b"), (2, "c")):
        r = runner.invoke(app, ["sample", str(run), "--n", "4", "--out", str(tmp_path / f"{name}.png"), "--seed", str(seed), "--device", "cpu"])
        assert r.exit_code == 0, r.output
        outs.append(np.asarray(Image.open(tmp_path / f"{name}.png")))
    assert outs[0].shape == (2 * 32 + 2, 2 * 32 + 2, 3)  # 2 x 2 grid of 32 px tiles, 2 px between them
    assert np.array_equal(outs[0], outs[1]) and not np.array_equal(outs[0], outs[2])
    r = runner.invoke(app, ["sample", str(run), "--label", "circle", "--device", "cpu"])
    assert r.exit_code == 2 and "unconditional" in r.output


def test_sample_cgan_rows_per_class_and_label(runner, tmp_path):
    from translate.data.synthetic import make_labelled

    root = make_labelled(tmp_path / "lab", n=6, size=40)
    run = _fit(runner, tmp_path, "--labelled", str(root), "--model", "cgan")
    r = runner.invoke(app, ["sample", str(run), "--n", "6", "--out", str(tmp_path / "all.png"), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert np.asarray(Image.open(tmp_path / "all.png")).shape[:2] == (3 * 32 + 4, 2 * 32 + 2)  # 3 rows (classes) of 2
    r = runner.invoke(app, ["sample", str(run), "--n", "4", "--label", "square", "--out", str(tmp_path / "sq.png"), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["sample", str(run), "--label", "hexagon", "--device", "cpu"])
    assert r.exit_code == 2 and "circle, square, triangle" in r.output


def test_dcgan_networks_have_the_reference_parameter_counts():
    """pytorch/examples' DCGAN at 64x64 (and the WGAN authors' DCGAN_D/G): netD 2,765,568 parameters (no bias
    anywhere, batch norm from the second block), netG 3,576,704."""
    from translate.nn.dcgan import DCGANDiscriminator, DCGANGenerator
    from translate.nn.layers import count_parameters

    d, g = DCGANDiscriminator(3, 64, 64, "batch"), DCGANGenerator(100, 3, 64, 64, "batch")
    assert d.net[0].bias is None
    assert count_parameters(d) == 2_765_568
    assert count_parameters(g) == 3_576_704
