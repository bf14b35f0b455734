"""Unpaired data and the unpaired models: pool, sampler, exact resume, both directions, critic schedule."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from translate import api
from translate.config import Config, DataConfig, TrainConfig
from translate.data.synthetic import make_unpaired
from translate.data.unpaired import UnpairedDataset, find_unpaired
from translate.engine.trainer import Trainer
from translate.errors import UserError
from translate.types import DataInfo
from translate.nn.layers import count_parameters
from translate.nn.patchgan import PatchGAN
from translate.nn.pool import HistoryPool
from translate.nn.resnet import ResnetGenerator
from translate.registry import create_model

TINY = {"ngf": 8, "ndf": 8}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = make_unpaired(tmp_path_factory.mktemp("unpaired"), n=8, size=40)
    for p in sorted((root / "trainB").glob("*.png"))[5:]:  # domains of different sizes: A 8, B 5
        p.unlink()
    return root


def fit_cfg(folder, runs, model="cyclegan", steps=6, opts=None, **train):
    return api.resolve_config({
        "model": model,
        "data": {"layout": "unpaired", "root": str(folder), "load_size": 36, "crop_size": 32},
        "train": {"steps": steps, "steps_decay": 0, "device": "cpu", "log_every": 2, "sample_every": 1000,
                  "checkpoint_every": 1000, "num_samples": 2, "batch_size": 1, **train},
        "run": {"runs_dir": str(runs)},
        "model_opts": {**TINY, **(opts or {})},
    })


# -- networks --------------------------------------------------------------------------------------
def test_parameter_counts_match_the_official_code():
    assert count_parameters(ResnetGenerator(3, 3, 64, 9)) == 11_378_179
    assert count_parameters(ResnetGenerator(3, 3, 64, 9, up="resize")) == 11_378_179
    assert count_parameters(PatchGAN(3, 64, 3, "instance")) == 2_764_737
    m = create_model("cyclegan", DataInfo(size=256))
    assert count_parameters(m.netG_AB) == 11_378_179 and count_parameters(m.netD_B) == 2_764_737
    small = create_model("cyclegan", DataInfo(size=128), TINY)
    assert sum(type(x).__name__ == "ResnetBlock" for x in small.netG_AB.modules()) == 6


@pytest.mark.parametrize("up", ["transpose", "resize"])
def test_resnet_generator_keeps_any_input_size(up):
    g = ResnetGenerator(3, 1, 8, 2, up=up).eval()
    for h, w in ((32, 32), (37, 50), (5, 7)):
        assert g(torch.zeros(1, 3, h, w)).shape == (1, 1, h, w)


# -- history pool ----------------------------------------------------------------------------------
def test_history_pool_fills_then_swaps_half_the_time():
    torch.manual_seed(0)
    pool = HistoryPool(4)
    first = torch.arange(4.0).view(4, 1, 1, 1)
    assert torch.equal(pool(first), first) and len(pool) == 4  # filling: every image returned and stored
    swapped = 0
    for i in range(200):
        x = torch.full((1, 1, 1, 1), 100.0 + i)
        y = pool(x)
        stored = torch.cat(pool.images).flatten().tolist()
        assert len(pool) == 4
        if y.item() != x.item():  # swapped: an older image comes out and the new one is stored
            swapped += 1
            assert y.item() < x.item() and x.item() in stored and y.item() not in stored
        else:
            assert x.item() not in stored
    assert 70 < swapped < 130
    assert torch.equal(HistoryPool(0)(first), first)


def test_history_pool_is_part_of_the_state_dict():
    torch.manual_seed(0)
    model = create_model("cyclegan", DataInfo(size=32), {**TINY, "pool_size": 3})
    model.pool_A(torch.randn(2, 3, 32, 32))
    other = create_model("cyclegan", DataInfo(size=32), {**TINY, "pool_size": 3})
    other.load_state_dict(model.state_dict())
    assert len(other.pool_A) == 2 and len(other.pool_B) == 0
    assert torch.equal(torch.cat(other.pool_A.images), torch.cat(model.pool_A.images))


# -- data ------------------------------------------------------------------------------------------
def test_unpaired_sampler_epoch_partners_and_determinism(folder):
    ds = UnpairedDataset(find_unpaired(folder), DataConfig(layout="unpaired", root=str(folder), load_size=36, crop_size=32), seed=0)
    assert len(ds) == 8  # the larger domain
    name = lambda s, d: Path(s[f"path_{d}"]).name  # noqa: E731
    a_files = [name(ds[k], "A") for k in range(8)]
    assert a_files == [f"{i:04d}.png" for i in range(8)]  # every A once per epoch
    partners = [[name(ds[e * 8 + i], "B") for i in range(8)] for e in range(6)]
    assert len({b for row in partners for b in row}) == 5  # all of B is drawn
    assert any(partners[0][i] != partners[1][i] for i in range(8))  # a different B for the same A next epoch
    again = UnpairedDataset(ds.layout, ds.cfg, seed=0)
    for key in (0, 5, 13):
        s, t = ds[key], again[key]
        assert name(s, "B") == name(t, "B") and torch.equal(s["A"], t["A"]) and torch.equal(s["B"], t["B"])
    other_seed = UnpairedDataset(ds.layout, ds.cfg, seed=1)
    assert [name(other_seed[k], "B") for k in range(8)] != partners[0]
    assert ds[0]["A"].shape == (3, 32, 32)
    assert ds.fixed_batch(2)["B"].shape == (2, 3, 32, 32)


def test_grayscale_domain(folder):
    cfg = DataConfig(layout="unpaired", root=str(folder), load_size=36, crop_size=32, input_nc=1)
    ds = UnpairedDataset(find_unpaired(folder), cfg, seed=0)
    assert ds[0]["A"].shape == (1, 32, 32) and ds[0]["B"].shape == (3, 32, 32)
    model = create_model("cyclegan", ds.info, {**TINY, "lambda_identity": 0.0})
    assert model.translate(ds[0]["A"][None], "AtoB").shape == (1, 3, 32, 32)
    assert model.translate(ds[0]["B"][None], "BtoA").shape == (1, 1, 32, 32)
    with pytest.raises(UserError, match="lambda_identity=0"):
        create_model("cyclegan", ds.info, TINY)


def test_missing_or_empty_domain_is_a_one_line_error(folder, tmp_path, runner):
    from translate.cli import app

    bad = tmp_path / "bad"
    (bad / "trainA").mkdir(parents=True)
    (bad / "trainA" / "x.png").write_bytes((folder / "trainA" / "0000.png").read_bytes())
    result = runner.invoke(app, ["fit", "--unpaired", str(bad), "--runs-dir", str(tmp_path / "runs"), "--steps", "1"])
    assert result.exit_code == 2
    assert f"{bad / 'trainB'}: folder missing" in result.output and "trainA/ and trainB/" in result.output
    (bad / "trainB").mkdir()
    result = runner.invoke(app, ["fit", "--unpaired", str(bad), "--runs-dir", str(tmp_path / "runs"), "--steps", "1"])
    assert result.exit_code == 2 and f"{bad / 'trainB'}: no images found" in result.output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    result = runner.invoke(app, ["check", str(folder)])
    assert result.exit_code == 0, result.output
    assert "layout: unpaired (detected)" in result.output and "A 8 images, B 5 images" in result.output


# -- training, resume, conversion ------------------------------------------------------------------
def _weights(run_dir: Path) -> dict:
    from translate.files import safe_load

    return safe_load(run_dir / "checkpoints" / "last.pt")["model"]


def _flat(state: dict) -> dict:
    out = {}
    for k, v in state.items():
        if isinstance(v, dict):
            out.update({f"{k}.{kk}": vv for kk, vv in v.items()})
        else:
            out[k] = v
    return out


def test_resume_is_exact_with_the_history_pool(folder, tmp_path):
    torch.set_num_threads(1)
    straight = api.fit(fit_cfg(folder, tmp_path / "a", steps=6, opts={"pool_size": 3}), progress=False)
    half = api.fit(fit_cfg(folder, tmp_path / "b", steps=3, opts={"pool_size": 3}), progress=False)
    resumed = api.resume(half["run_dir"], {"steps": 6}, progress=False)
    assert resumed["step"] == 6 and resumed["steps_run"] == 3
    a, b = _flat(_weights(straight["run_dir"])), _flat(_weights(resumed["run_dir"]))
    assert a.keys() == b.keys()
    assert a["pool_A._extra_state.images"].shape[0] == 3  # the pool is full and has been swapping
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_convert_both_directions(folder, tmp_path, runner):
    from translate.cli import app

    run = api.fit(fit_cfg(folder, tmp_path / "runs", steps=2), progress=False)["run_dir"]
    model, _ = api.load_run(run)
    outs = {}
    for direction, src in (("AtoB", "testA"), ("BtoA", "testB")):
        out = tmp_path / direction
        result = runner.invoke(app, ["convert", str(run), str(folder / src), str(out), "--direction", direction, "--device", "cpu"])
        assert result.exit_code == 0, result.output
        files = sorted(out.glob("*.png"))
        assert len(files) == len(list((folder / src).glob("*.png"))) == 2
        outs[direction] = files[0].read_bytes()
    assert outs["AtoB"] != outs["BtoA"]
    x = torch.zeros(1, 3, 40, 40)
    with torch.no_grad():
        assert torch.equal(model.translate(x, "AtoB"), model.netG_AB(x))
        assert torch.equal(model.translate(x, "BtoA"), model.netG_BA(x))


@pytest.mark.parametrize("name", ["discogan", "dualgan"])
def test_other_unpaired_models_fit_and_write_grids(name, folder, tmp_path):
    result = api.fit(fit_cfg(folder, tmp_path, model=name, steps=2), progress=False)
    assert result["step"] == 2
    assert (result["run_dir"] / "generator.pt").is_file() and result["sample"].is_file()


# -- DualGAN critic regimes --------------------------------------------------------------------------
def _snapshot(params):
    return [p.detach().clone() for p in params]


def _changed(before, params):
    return any(not torch.equal(b, p) for b, p in zip(before, params))


def test_dualgan_clipping_regime_schedule():
    torch.manual_seed(0)
    model = create_model("dualgan", DataInfo(size=32), TINY)
    assert model.critic_steps(0) == model.critic_steps(9) == 2
    trainer = Trainer.for_step(Config(model="dualgan", train=TrainConfig(channels_last=False)), model, torch.device("cpu"))
    assert isinstance(trainer.optimizers["D"], torch.optim.RMSprop) and isinstance(trainer.optimizers["G"], torch.optim.RMSprop)
    assert trainer.optimizers["D"].param_groups[0]["lr"] == 5e-5
    assert trainer.optimizers["D"].param_groups[0]["alpha"] == trainer.optimizers["G"].param_groups[0]["alpha"] == 0.9
    assert 100 <= model.cfg.lambda_l1 <= 1000  # the paper's range for the recovery weight
    groups = model.param_groups()
    batch = {"A": torch.rand(1, 3, 32, 32) * 2 - 1, "B": torch.rand(1, 3, 32, 32) * 2 - 1}
    g_updates = []
    for step in range(6):
        g0, d0 = _snapshot(groups["G"]), _snapshot(groups["D"])
        losses = trainer.train_step(batch)
        trainer.step += 1
        assert _changed(d0, groups["D"])  # a critic step every iteration
        g_updates.append(_changed(g0, groups["G"]))
        assert ("G" in losses) == g_updates[-1]
        assert max(p.abs().max().item() for p in groups["D"]) <= 0.01 + 1e-9  # clipped after every critic step
    assert g_updates == [False, True] * 3  # 2 critic steps per generator step
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.netD_A.modules())

    three = create_model("dualgan", DataInfo(size=32), {**TINY, "d_steps": 3})
    assert three.critic_steps(0) == 3


def test_dualgan_gradient_penalty_regime():
    torch.manual_seed(0)
    model = create_model("dualgan", DataInfo(size=32), {**TINY, "regime": "gp"})
    assert not any(isinstance(m, (torch.nn.BatchNorm2d, torch.nn.InstanceNorm2d)) for m in model.netD_A.modules())
    trainer = Trainer.for_step(Config(model="dualgan", train=TrainConfig(channels_last=False)), model, torch.device("cpu"))
    assert isinstance(trainer.optimizers["D"], torch.optim.Adam)
    batch = {"A": torch.rand(2, 3, 32, 32) * 2 - 1, "B": torch.rand(2, 3, 32, 32) * 2 - 1}
    with torch.no_grad():
        for p in model.netD_A.parameters():
            p.mul_(50.0)  # far outside the clipping range: the gp regime must not clip
    losses = trainer.train_step(batch)
    assert "GP" in losses and torch.isfinite(losses["GP"]) and losses["GP"] > 0
    assert max(p.abs().max().item() for p in model.netD_A.parameters()) > 0.5
    with pytest.raises(UserError, match="regime"):
        create_model("dualgan", DataInfo(size=32), {"regime": "clipping"})


def test_discogan_depth_follows_the_size():
    small = create_model("discogan", DataInfo(size=64), TINY)
    large = create_model("discogan", DataInfo(size=256), TINY)
    assert small.netG_AB.depth == 4 and large.netG_AB.depth == 6
    for m, size in ((small, 64), (large, 256)):
        assert m.netD_A(torch.zeros(2, 3, size, size)).shape == (2, 1, 1, 1)
        assert m.translate(torch.zeros(1, 3, 50, 70), "BtoA").shape == (1, 3, 50, 70)
    with pytest.raises(UserError, match="crop_size of at least 16"):
        create_model("discogan", DataInfo(size=8), TINY)


def test_discogan_follows_the_authors_schedule_losses_and_curriculum():
    """One discriminator step per two generator steps, halved discriminator losses, feature matching
    0.9 against GAN 0.1, and the reconstruction weight 0.01 during the curriculum, 0.5 after it."""
    torch.manual_seed(0)
    model = create_model("discogan", DataInfo(size=32), {"ngf": 4, "ndf": 4, "curriculum": 3})
    trainer = Trainer.for_step(Config(model="discogan", train=TrainConfig(channels_last=False)), model, torch.device("cpu"))
    groups = model.param_groups()
    batch = {"A": torch.rand(4, 3, 32, 32) * 2 - 1, "B": torch.rand(4, 3, 32, 32) * 2 - 1}
    d_moved, outs = [], []
    for _ in range(6):
        d0 = _snapshot(groups["D"])
        outs.append(trainer.train_step(batch))
        trainer.step += 1
        d_moved.append(_changed(d0, groups["D"]))
    assert d_moved == [True, False] * 3 and all("G" in o for o in outs) and ["D" in o for o in outs] == d_moved
    assert {"FM_AB", "FM_BA", "recon_A", "recon_B", "G_AB", "G_BA"} <= set(outs[0])
    for i, out in enumerate(outs):
        rate = 0.01 if i < 3 else 0.5  # the curriculum counts generator steps: one per iteration here
        adv = 0.1 * (out["G_AB"] + out["G_BA"]) + 0.9 * (out["FM_AB"] + out["FM_BA"])
        assert torch.allclose(out["G"], (1 - rate) * adv + rate * (out["recon_A"] + out["recon_B"]), rtol=1e-5), i
    model.eval()
    fakes = model.fake(batch)
    d = model.discriminator_step(batch, fakes)
    full = (torch.nn.functional.binary_cross_entropy_with_logits(model.netD_A(batch["A"]), torch.ones(4, 1, 1, 1))
            + torch.nn.functional.binary_cross_entropy_with_logits(model.netD_A(fakes["fake_A"]), torch.zeros(4, 1, 1, 1)))
    assert torch.allclose(d["D_A"], 0.5 * full, rtol=1e-5)
    paper = create_model("discogan", DataInfo(size=32), {"ngf": 4, "ndf": 4, "feature_matching": 0, "curriculum": 0, "g_per_d": 1})
    assert paper.critic_steps(1) == 1


def test_cyclegan_batched_passes_equal_separate_ones(monkeypatch):
    """With instance norm the generator passes are batched into three calls and each discriminator's real and
    fake halves into one: the same fakes, losses and gradients as our unbatched path (one call per network and
    input). It compares our two paths with each other; the official code's numbers are matched in
    test_cyclegan_update_order_equals_the_official_optimize_parameters."""
    torch.manual_seed(0)
    model = create_model("cyclegan", DataInfo(size=32), {"ngf": 8, "ndf": 8, "pool_size": 0})
    batch = {"A": torch.rand(2, 3, 32, 32) * 2 - 1, "B": torch.rand(2, 3, 32, 32) * 2 - 1}
    results = []
    assert model.per_sample and not create_model("cyclegan", DataInfo(size=32), {"ngf": 8, "norm": "batch"}).per_sample
    for batched in (True, False):
        monkeypatch.setattr(type(model), "per_sample", batched)
        model.zero_grad(set_to_none=True)
        fakes = model.fake(batch)
        d = model.discriminator_step(batch, {k: v.detach() for k, v in fakes.items()})
        g = model.generator_step(batch, fakes)
        (d["total"] + g["total"]).backward()
        results.append((fakes, {**d, **g}, {n: p.grad.clone() for n, p in model.named_parameters()}))
    (f1, l1, g1), (f2, l2, g2) = results
    assert set(f1) == set(f2) == {"fake_A", "fake_B", "rec_A", "rec_B", "idt_A", "idt_B"}
    assert all(torch.allclose(f1[k], f2[k], atol=1e-5) for k in f1)
    assert all(torch.allclose(l1[k], l2[k], rtol=1e-4, atol=1e-6) for k in l1)
    assert all(torch.allclose(g1[n], g2[n], rtol=1e-3, atol=1e-5) for n in g1)


# -- update order ----------------------------------------------------------------------------------
def _official_cyclegan_iteration(m, opt_g, opt_d, pool_a, pool_b, real_a, real_b, lambda_a=10.0, lambda_b=10.0, lambda_idt=0.5):
    """One ``optimize_parameters`` of the official CycleGAN code (models/cycle_gan_model.py), written out with
    our networks: netG_AB is its netG_A, netG_BA its netG_B, our netD_B (judges domain B) its netD_A and our
    netD_A its netD_B. lsgan, cycle L1 x 10, identity L1 x 0.5 x 10, D loss halved."""
    def mse(a, b):  # our losses take float32 (as under autocast): so do these, on the float64 networks' outputs
        return torch.nn.functional.mse_loss(a.float(), b.float())

    def l1(a, b):
        return torch.nn.functional.l1_loss(a.float(), b.float())

    # forward()
    fake_b = m.netG_AB(real_a)
    rec_a = m.netG_BA(fake_b)
    fake_a = m.netG_BA(real_b)
    rec_b = m.netG_AB(fake_a)
    # G_A and G_B: set_requires_grad([netD_A, netD_B], False), backward_G, optimizer_G.step
    for p in [*m.netD_A.parameters(), *m.netD_B.parameters()]:
        p.requires_grad_(False)
    opt_g.zero_grad()
    loss_idt_a = l1(m.netG_AB(real_b), real_b) * lambda_b * lambda_idt
    loss_idt_b = l1(m.netG_BA(real_a), real_a) * lambda_a * lambda_idt
    pred_b, pred_a = m.netD_B(fake_b), m.netD_A(fake_a)
    loss_g_a = mse(pred_b, torch.ones_like(pred_b))
    loss_g_b = mse(pred_a, torch.ones_like(pred_a))
    loss_cycle_a = l1(rec_a, real_a) * lambda_a
    loss_cycle_b = l1(rec_b, real_b) * lambda_b
    (loss_g_a + loss_g_b + loss_cycle_a + loss_cycle_b + loss_idt_a + loss_idt_b).backward()
    opt_g.step()
    # D_A and D_B: set_requires_grad(True), backward_D_A (fake_B from its pool), backward_D_B, optimizer_D.step
    for p in [*m.netD_A.parameters(), *m.netD_B.parameters()]:
        p.requires_grad_(True)
    opt_d.zero_grad()

    def backward_d_basic(net_d, real, fake):
        pred_real, pred_fake = net_d(real), net_d(fake.detach())
        loss = (mse(pred_real, torch.ones_like(pred_real)) + mse(pred_fake, torch.zeros_like(pred_fake))) * 0.5
        loss.backward()

    backward_d_basic(m.netD_B, real_b, pool_b(fake_b))
    backward_d_basic(m.netD_A, real_a, pool_a(fake_a))
    opt_d.step()


def test_cyclegan_update_order_equals_the_official_optimize_parameters():
    """Three iterations of our CycleGAN (the engine, at the model's defaults; the history pool on, with one
    slot so that its swaps draw from the seeded RNG) give the weights of three iterations of the official
    update order: the generators first against the discriminators' weights before this iteration's update,
    then the discriminators on fakes drawn through the pools after the generator step. In float64, so that
    batched and separate passes agree far below the tolerance; a D-then-G order misses it by ~1e-3."""
    import copy

    torch.manual_seed(0)
    model = create_model("cyclegan", DataInfo(size=32), {"ngf": 8, "ndf": 8, "pool_size": 1}).double()
    reference = copy.deepcopy(model)
    batches = [{"A": torch.rand(2, 3, 32, 32, dtype=torch.float64) * 2 - 1, "B": torch.rand(2, 3, 32, 32, dtype=torch.float64) * 2 - 1}
               for _ in range(3)]
    cfg = api.resolve_config({"model": "cyclegan", "train": {"batch_size": 2, "device": "cpu"}, "model_opts": {"ngf": 8, "ndf": 8}})
    trainer = Trainer.for_step(cfg, model, torch.device("cpu"))
    assert type(model).generator_first and trainer.tc.lr_policy == "linear_epochs"
    model.train()
    torch.manual_seed(1)
    for batch in batches:
        trainer.iteration(batch)

    ref = reference.train()
    opt_g = torch.optim.Adam([*ref.netG_AB.parameters(), *ref.netG_BA.parameters()], lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam([*ref.netD_A.parameters(), *ref.netD_B.parameters()], lr=2e-4, betas=(0.5, 0.999))
    pool_a, pool_b = HistoryPool(1), HistoryPool(1)
    torch.manual_seed(1)
    for batch in batches:
        _official_cyclegan_iteration(ref, opt_g, opt_d, pool_a, pool_b, batch["A"], batch["B"])
    ours, theirs = dict(model.named_parameters()), dict(ref.named_parameters())
    worst = max((ours[k] - theirs[k]).abs().max().item() for k in ours)
    assert worst < 1e-6, worst
    assert len(model.pool_A) == len(model.pool_B) == 1
    assert torch.equal(model.pool_A.images[0], pool_a.images[0]) and torch.equal(model.pool_B.images[0], pool_b.images[0])


def _softplus(x):  # -log sigmoid(-x), by hand: the BCE of a logit against target 0 (and of -x against 1)
    return torch.log1p(torch.exp(x.double()))


@pytest.mark.parametrize("g_step, rate", [(0, 0.01), (10**6, 0.5)])
def test_defaults_discogan_losses_equal_a_hand_computation(g_step, rate):
    """DiscoGAN's losses at its defaults on fixed tensors, computed here from the networks' outputs with plain
    arithmetic: G = (1 - r) * sum over directions of (0.1 * GAN + 0.9 * feature matching) + r * (MSE recon A + B),
    r = 0.01 in the curriculum and 0.5 after it; D = 0.5 * (real + fake) per discriminator, BCE on logits."""
    torch.manual_seed(0)
    model = create_model("discogan", DataInfo(size=32), {"ngf": 4, "ndf": 4}).eval()  # eval: no batch randomness
    a, b = torch.rand(3, 3, 32, 32) * 2 - 1, torch.rand(3, 3, 32, 32) * 2 - 1
    model.g_step = g_step
    with torch.no_grad():
        fakes = model.fake({"A": a, "B": b})
        g = model.generator_step({"A": a, "B": b}, fakes)
        d = model.discriminator_step({"A": a, "B": b}, fakes)
        fake_b, fake_a = model.netG_AB(a), model.netG_BA(b)
        rec_a, rec_b = model.netG_BA(fake_b), model.netG_AB(fake_a)

        def adversarial(net, real, fake):
            logits, fake_feats = net.features(fake)
            real_feats = net.features(real)[1]
            fm = sum(((r.double().mean(0) - f.double().mean(0)) ** 2).mean() for r, f in zip(real_feats, fake_feats))
            return _softplus(-logits).mean(), fm

        gan_ab, fm_ab = adversarial(model.netD_B, b, fake_b)
        gan_ba, fm_ba = adversarial(model.netD_A, a, fake_a)
        recon = ((rec_a.double() - a) ** 2).mean() + ((rec_b.double() - b) ** 2).mean()
        g_total = (1 - rate) * (0.1 * gan_ab + 0.9 * fm_ab + 0.1 * gan_ba + 0.9 * fm_ba) + rate * recon
        d_a = 0.5 * (_softplus(-model.netD_A(a)).mean() + _softplus(model.netD_A(fake_a)).mean())
        d_b = 0.5 * (_softplus(-model.netD_B(b)).mean() + _softplus(model.netD_B(fake_b)).mean())
    assert len(model.netD_A.features(a)[1]) == 2  # the normalised layers of the 32x32 discriminator
    for ours, hand in ((g["total"], g_total), (g["G_AB"], gan_ab), (g["FM_BA"], fm_ba), (d["D_A"], d_a), (d["total"], d_a + d_b)):
        assert float(ours) == pytest.approx(float(hand), rel=1e-5)


@pytest.mark.parametrize("regime", ["clip", "gp"])
def test_defaults_dualgan_losses_equal_a_hand_computation(regime):
    """DualGAN's losses on fixed tensors, from the networks' outputs: G = -mean D_B(G_AB(A)) - mean D_A(G_BA(B))
    + 500 * (mean |A - G_BA(G_AB(A))| + mean |B - G_AB(G_BA(B))|); each critic mean D(fake) - mean D(real)
    (plus, in the gp regime, the penalty the model reports); after a clip-regime critic step every critic
    weight lies in [-0.01, 0.01]."""
    torch.manual_seed(0)
    model = create_model("dualgan", DataInfo(size=32), {"ngf": 4, "ndf": 4, "regime": regime}).eval()
    a, b = torch.rand(3, 3, 32, 32) * 2 - 1, torch.rand(3, 3, 32, 32) * 2 - 1
    batch = {"A": a, "B": b}
    with torch.no_grad():
        fakes = model.fake(batch)
        g = model.generator_step(batch, fakes)
    d = {k: v.detach() for k, v in model.discriminator_step(batch, fakes).items()}  # the penalty takes gradients
    with torch.no_grad():
        fake_b, fake_a = model.netG_AB(a), model.netG_BA(b)
        rec_a, rec_b = model.netG_BA(fake_b), model.netG_AB(fake_a)
        g_total = (-model.netD_B(fake_b).double().mean() - model.netD_A(fake_a).double().mean()
                   + 500 * ((a - rec_a).double().abs().mean() + (b - rec_b).double().abs().mean()))
        d_a = model.netD_A(fake_a).double().mean() - model.netD_A(a).double().mean()
        d_b = model.netD_B(fake_b).double().mean() - model.netD_B(b).double().mean()
    gp = float(d["GP"]) if regime == "gp" else 0.0
    assert ("GP" in d) == (regime == "gp") and gp >= 0
    assert float(g["total"]) == pytest.approx(float(g_total), rel=1e-5)
    assert float(g["recovery_A"]) == pytest.approx(float((a - rec_a).abs().mean()), rel=1e-5)
    assert float(d["total"]) == pytest.approx(float(d_a + d_b) + gp, rel=1e-5, abs=1e-6)
    if regime == "clip":
        model.after_d_step()
        assert max(p.abs().max().item() for p in [*model.netD_A.parameters(), *model.netD_B.parameters()]) <= 0.01
