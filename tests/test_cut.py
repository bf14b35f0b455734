"""CUT and FastCUT: the authors' parameter counts, the PatchNCE loss by hand, F built from the first batch and
trained with G, the anti-aliasing switch, each model's defaults, and a tiny fit, resume and convert."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from translate import api
from translate.config import Config, TrainConfig
from translate.data.synthetic import make_unpaired
from translate.engine.trainer import Trainer
from translate.files import safe_load
from translate.models.cut import CUT, UNPREPARED, FastCUT
from translate.nn.blur import BlurDownsample, BlurUpsample
from translate.nn.cut import patch_nce
from translate.nn.layers import count_parameters
from translate.registry import create_model
from translate.types import DataInfo

TINY = {"ngf": 8, "ndf": 8}


def tiny(name="cut", size=32, **opts):
    torch.manual_seed(0)
    return create_model(name, DataInfo(size=size), {**TINY, **opts})


def batch(n=2, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"A": torch.rand(n, 3, size, size, generator=g) * 2 - 1, "B": torch.rand(n, 3, size, size, generator=g) * 2 - 1}


# -- the networks --------------------------------------------------------------------------------------
@pytest.mark.parametrize("antialias", [True, False])
def test_parameter_counts_equal_the_authors_code(antialias):
    """Measured on the authors' define_G / define_D / define_F (resnet_9blocks, basic PatchGAN, mlp_sample) at
    ngf = ndf = 64 with instance norm: the blur filters are buffers, so both variants count the same. F's
    count: per NCE layer 256 C + 256 + 256 x 256 + 256 for the channels 3, 128, 256, 256, 256 (it does not
    depend on the image size, so a 64x64 batch builds it)."""
    model = create_model("cut", DataInfo(size=256), {"antialias": antialias})
    model.prepare(batch(1, 64))
    assert count_parameters(model.netG) == 11_378_179
    assert count_parameters(model.netD) == 2_764_737
    assert count_parameters(model.netF) == 560_384
    assert model.netF.channels == (3, 128, 256, 256, 256)
    from translate.engine.trainer import model_summary

    lines = model_summary(model)  # what the run log prints: F too, in G's total
    assert any(line.startswith("netF: PatchSampleF, trained with G, 0.56 M parameters (560,384)") for line in lines), lines
    assert lines[-1] == "total: 14.70 M parameters (14,703,300; G 11.94 M, D 2.76 M)"


def test_antialias_switch_changes_the_layers_and_keeps_the_counts_and_the_nce_layers():
    smooth, strided = tiny(antialias=True), tiny(antialias=False)
    assert count_parameters(smooth) == count_parameters(strided)
    kinds = lambda net: [type(m).__name__ for m in net.modules()]  # noqa: E731
    assert kinds(smooth.netG).count("BlurDownsample") == 2 and kinds(smooth.netG).count("BlurUpsample") == 2
    assert kinds(smooth.netD).count("BlurDownsample") == 3
    assert not {"BlurDownsample", "BlurUpsample"} & set(kinds(strided.netG) + kinds(strided.netD))
    assert "ConvTranspose2d" in kinds(strided.netG) and "ConvTranspose2d" not in kinds(smooth.netG)
    assert "84x84" in smooth.netD.describe() and "70x70" in strided.netD.describe()
    x = batch(1)["A"]
    want = {True: [(3, 38), (16, 32), (32, 16), (32, 8), (32, 8)], False: [(3, 38), (16, 16), (32, 8), (32, 8), (32, 8)]}
    for model in (smooth, strided):
        seq = model.netG.model
        # the authors' indices: the padded input, the first down-sampling conv, the second down-sampling conv
        # (anti-aliased) or the norm after it (strided), the first and fifth (or third and seventh) residual blocks
        names = [type(seq[i]).__name__ for i in (0, 4, 8, 12, 16)]
        assert names == ["ReflectionPad2d", "Conv2d", "Conv2d" if model.cfg.antialias else "InstanceNorm2d", "ResnetBlock",
                         "ResnetBlock"]
        feats = model.netG(x, [0, 4, 8, 12, 16], encode_only=True)
        assert [(f.shape[1], f.shape[2]) for f in feats] == want[model.cfg.antialias]
        assert model.netG(x).shape == x.shape


def test_blur_layers_halve_and_double_the_side_and_keep_a_constant():
    x = torch.full((1, 4, 10, 10), 0.5)
    assert torch.allclose(BlurDownsample(4)(x), torch.full((1, 4, 5, 5), 0.5))
    assert torch.allclose(BlurUpsample(4)(x), torch.full((1, 4, 20, 20), 0.5))
    assert BlurDownsample(1).filt[0, 0].tolist() == [[1 / 16, 2 / 16, 1 / 16], [2 / 16, 4 / 16, 2 / 16], [1 / 16, 2 / 16, 1 / 16]]
    assert torch.allclose(BlurUpsample(1).filt[0, 0, 0] * 64 / 4 / 1, torch.tensor([1.0, 3, 3, 1]))


# -- the loss -------------------------------------------------------------------------------------------
def _unit(rows):
    return [[v / math.sqrt(sum(x * x for x in r)) for v in r] for r in rows]


def test_patch_nce_equals_a_hand_computation():
    """Two images of three patches in 2-D: each query's loss is -log softmax of its own key among the keys of
    its image, the other positions' similarity as negatives and the same position's replaced by -10, all / T."""
    q = _unit([[1, 0], [0.6, 0.8], [0, 1], [1, 1], [-1, 0.5], [0.3, -1]])
    k = _unit([[0.7, 0.6], [0.9, 0.5], [-0.2, 1], [0.4, 1], [-1, -0.3], [0.8, -1]])
    t = 0.07
    dot = lambda a, b: a[0] * b[0] + a[1] * b[1]  # noqa: E731
    same_image, whole_batch = [], []
    for i in range(6):
        pos = dot(q[i], k[i]) / t
        image = range(3 * (i // 3), 3 * (i // 3) + 3)
        terms = [pos] + [(-10.0 if j == i else dot(q[i], k[j])) / t for j in image]
        same_image.append(-pos + math.log(sum(math.exp(v) for v in terms)))
        # all negatives of the batch: the positions are those of one image of 6 patches, the diagonal masked
        terms = [pos] + [(-10.0 if j == i else dot(q[i], k[j])) / t for j in range(6)]
        whole_batch.append(-pos + math.log(sum(math.exp(v) for v in terms)))
    qt, kt = torch.tensor(q, dtype=torch.float64), torch.tensor(k, dtype=torch.float64)
    assert patch_nce(qt, kt, 2, t).double().tolist() == pytest.approx(same_image, rel=1e-5)
    assert patch_nce(qt, kt, 2, t, all_negatives=True).double().tolist() == pytest.approx(whole_batch, rel=1e-5)
    kt.requires_grad_(True)
    patch_nce(qt.requires_grad_(True), kt, 2, t).sum().backward()
    assert kt.grad is None and qt.grad is not None  # the keys are detached


# -- F: built from the first batch, trained with G ------------------------------------------------
def test_f_is_built_by_prepare_trained_in_group_g_and_not_saved_for_inference():
    model = tiny()
    assert model.netF is None
    with pytest.raises(RuntimeError, match="call model.prepare"):
        model.param_groups()
    with pytest.raises(RuntimeError) as err:
        Trainer.for_step(Config(model="cut"), model, torch.device("cpu"))
    assert str(err.value) == UNPREPARED
    b = batch()
    model.prepare(b)
    f = model.netF
    assert f.channels == (3, 16, 32, 32, 32)
    model.prepare(batch(seed=1))
    assert model.netF is f  # once
    groups = model.param_groups()
    ids_g, ids_d, ids_f = ({id(p) for p in groups["G"]}, {id(p) for p in groups["D"]}, {id(p) for p in f.parameters()})
    assert ids_f <= ids_g and not ids_f & ids_d and len(ids_g) == len(list(model.netG.parameters())) + len(ids_f)

    model.train()
    fakes = model.fake(b)
    model.discriminator_step(b, {k: v.detach() for k, v in fakes.items()})["total"].backward()
    assert all(p.grad is None for p in groups["G"]), "the D step reached G or F"
    assert all(p.grad is not None for p in groups["D"])
    model.zero_grad(set_to_none=True)
    for p in groups["D"]:
        p.requires_grad_(False)
    g = model.generator_step(b, fakes)
    g["total"].backward()
    assert {"G_GAN", "NCE", "NCE_Y"} <= set(g)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in f.parameters())
    assert all(p.grad is None for p in groups["D"]), "the G step reached D"
    assert not any(k.startswith("netF") for k in model.inference_state())
    assert model.generators == ("netG",)


def test_the_trainer_prepares_the_model_before_building_its_optimizers():
    model = tiny("fastcut")
    trainer = Trainer.for_step(Config(model="fastcut", train=TrainConfig(channels_last=True)), model, torch.device("cpu"),
                               batch=batch())
    optimised = {id(p) for pg in trainer.optimizers["G"].param_groups for p in pg["params"]}
    assert {id(p) for p in model.netF.parameters()} <= optimised
    losses = trainer.train_step(batch(seed=1))
    assert {"G", "D", "NCE", "G_GAN"} <= set(losses) and "NCE_Y" not in losses
    assert all(torch.isfinite(v) for v in losses.values())


# -- the defaults ---------------------------------------------------------------------------------
def test_cut_and_fastcut_defaults():
    cut, fast = CUT.Config(), FastCUT.Config()
    assert (cut.lambda_nce, cut.nce_idt, cut.flip_equivariance) == (1.0, True, False)
    assert (fast.lambda_nce, fast.nce_idt, fast.flip_equivariance) == (10.0, False, True)
    for c in (cut, fast):
        assert (c.nce_layers, c.nce_t, c.num_patches, c.netf_nc, c.nce_batch_negatives) == (
            "0,4,8,12,16", 0.07, 256, 256, False)
        assert (c.net_g, c.antialias, c.norm, c.gan_mode, c.lambda_gan, c.init_type, c.init_gain) == (
            "resnet_9blocks", True, "instance", "lsgan", 1.0, "xavier", 0.02)
        assert (c.lr, c.beta1, c.beta2) == (2e-4, 0.5, 0.999)
    for name, epochs in (("cut", (200, 200)), ("fastcut", (150, 50))):
        tc = api.model_defaults(name).train
        assert (tc.epochs, tc.epochs_decay, tc.lr_policy) == (*epochs, "linear_epochs")
    assert CUT.directions == FastCUT.directions == ("AtoB",)


def test_flip_equivariance_flips_about_half_the_training_batches_and_never_at_inference():
    model = tiny("fastcut", size=16)
    b = batch(1, 16)
    model.train()
    torch.manual_seed(0)
    flips = []
    for _ in range(24):
        with torch.no_grad():
            fakes = model.fake(b)
        flips.append(model.flipped)
        if model.flipped:  # G saw the flipped input (the authors' fake_B is not flipped back)
            with torch.no_grad():
                assert torch.allclose(fakes["fake_B"], model.netG(torch.flip(b["A"], [3])), atol=1e-6)
    assert 4 < sum(flips) < 20
    model.eval()
    with torch.no_grad():
        assert not any((model.fake(b), model.flipped)[1] for _ in range(5))
        cut = tiny("cut", size=16).train()
        assert not any((cut.fake(b), cut.flipped)[1] for _ in range(5))


def test_identity_nce_needs_domains_with_the_same_channels():
    from translate.errors import ArgumentError

    with pytest.raises(ArgumentError, match="nce_idt"):
        create_model("cut", DataInfo(input_nc=1, output_nc=3, size=32), TINY)
    create_model("fastcut", DataInfo(input_nc=1, output_nc=3, size=32), TINY)


# -- end to end ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return make_unpaired(tmp_path_factory.mktemp("cut"), n=4, size=36)


def _cfg(folder, runs, steps):
    return api.resolve_config({
        "model": "cut",
        "data": {"layout": "unpaired", "root": str(folder), "load_size": 36, "crop_size": 32},
        "train": {"steps": steps, "steps_decay": 0, "device": "cpu", "log_every": 2, "sample_every": 1000,
                  "checkpoint_every": 1000, "num_samples": 2, "batch_size": 2},
        "run": {"runs_dir": str(runs)},
        "model_opts": {**TINY, "num_patches": 16},
    })


def test_fit_resume_and_convert(folder, tmp_path, runner):
    from translate.cli import app

    torch.set_num_threads(1)
    result = runner.invoke(app, ["fit", "--unpaired", str(folder), "--model", "cut", "--image-size", "32", "--opt", "ngf=8",
                                 "--opt", "ndf=8", "--opt", "num_patches=16", "--steps", "1", "--device", "cpu",
                                 "--runs-dir", str(tmp_path / "cli"), "--name", "c"])
    assert result.exit_code == 0, result.output
    assert "netG: CutGenerator" in (tmp_path / "cli" / "c" / "log.txt").read_text()

    straight = api.fit(_cfg(folder, tmp_path / "a", 4), progress=False)
    half = api.fit(_cfg(folder, tmp_path / "b", 2), progress=False)
    resumed = api.resume(half["run_dir"], {"steps": 4}, progress=False)
    assert resumed["step"] == 4 and resumed["steps_run"] == 2
    a, b = safe_load(straight["checkpoint"]), safe_load(resumed["checkpoint"])
    assert any(k.startswith("netF.") for k in a["model"]) and a["model"].keys() == b["model"].keys()
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    weights = safe_load(straight["weights"])["state"]
    assert weights and not any(k.startswith(("netF", "netD")) for k in weights)

    out = tmp_path / "out"
    result = runner.invoke(app, ["convert", str(straight["run_dir"]), str(folder / "testA"), str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert len(list(out.glob("*.png"))) == len(list((folder / "testA").glob("*.png"))) > 0


def test_demo_horse2zebra_trains_cut_and_refuses_a_pretrained_cut(folder, tmp_path, runner):
    from tests.conftest import one_line_error
    from translate.cli import app

    line = one_line_error(runner.invoke(app, ["demo", "horse2zebra", "--model", "cut", "--pretrained", "--runs-dir", str(tmp_path)]))
    assert line.startswith("error: no official pretrained cut generator is registered") and "--pretrained" in line
    line = one_line_error(runner.invoke(app, ["demo", "horse2zebra", "--model", "munit", "--runs-dir", str(tmp_path)]))
    assert "--model" in line and "cyclegan, cut, fastcut" in line
    result = runner.invoke(app, ["demo", "horse2zebra", "--model", "fastcut", "--data", str(folder), "--steps", "1", "--size", "32",
                                 "--device", "cpu", "--runs-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "AtoB: converted" in result.output and "BtoA" not in result.output
    assert (tmp_path / "horse2zebra-fastcut" / "gallery" / "index.html").is_file()
