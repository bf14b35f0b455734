"""DiffAugment (``--augment diff``): each transform's semantics, its gradients, the engine's one hook on every
discriminator call of every model, pix2pix's conditional rule, the CLI, resume and the errors."""

from __future__ import annotations

import csv

import pytest
import torch

from conftest import fit_killed_at, make_batch, one_line_error, tiny_info, tiny_opts, tiny_paired_config
from translate import api
from translate import config as C
from translate.cli import app
from translate.config import Config, TrainConfig
from translate.engine.trainer import Trainer
from translate.files import safe_load
from translate.nn import augment as A
from translate.registry import create_model, list_models
from translate.types import DataInfo

CPU = torch.device("cpu")


# -- the transforms ---------------------------------------------------------------------------------------
def test_brightness_saturation_and_contrast_do_what_the_paper_says():
    x = torch.randn(3, 3, 5, 6)
    shift = torch.tensor([-0.5, 0.1, 0.4])
    assert torch.allclose(A.brightness(x, shift).mean((1, 2, 3)), x.mean((1, 2, 3)) + shift, atol=1e-6)
    grey = A.saturation(x, torch.zeros(3))  # factor 0: every channel is the channels' mean
    assert torch.allclose(grey, x.mean(1, keepdim=True).expand_as(x), atol=1e-6)
    assert torch.allclose(A.saturation(x, torch.ones(3)), x, atol=1e-6)
    out = A.contrast(x, torch.tensor([0.5, 1.0, 1.5]))
    assert torch.allclose(out.mean((1, 2, 3)), x.mean((1, 2, 3)), atol=1e-6)  # the image's mean stays
    assert torch.allclose(out.std((1, 2, 3)), x.std((1, 2, 3)) * torch.tensor([0.5, 1.0, 1.5]), atol=1e-5)


def test_color_draws_one_brightness_saturation_and_contrast_per_image_in_the_paper_s_ranges():
    x = torch.randn(4, 3, 6, 6)
    torch.manual_seed(3)
    out = A.diff_augment(x, "color")
    torch.manual_seed(3)
    u1, u2, u3 = (torch.rand(4) for _ in range(3))
    want = A.contrast(A.saturation(A.brightness(x, u1 - 0.5), u2 * 2), u3 + 0.5)
    assert torch.allclose(out, want, atol=1e-6)


def test_translation_moves_content_by_whole_pixels_with_zero_fill():
    x = torch.arange(1, 2 * 2 * 5 * 6 + 1, dtype=torch.float32).view(2, 2, 5, 6)
    rows, cols = torch.tensor([1, -2]), torch.tensor([-3, 0])
    out = A.translation(x, rows, cols)
    for n in range(2):
        for i in range(5):
            for j in range(6):
                si, sj = i + int(rows[n]), j + int(cols[n])
                want = x[n, :, si, sj] if 0 <= si < 5 and 0 <= sj < 6 else torch.zeros(2)
                assert torch.equal(out[n, :, i, j], want)


def test_random_translation_shifts_at_most_an_eighth_of_the_size():
    x = torch.arange(16 * 16, dtype=torch.float32).view(1, 1, 16, 16).repeat(64, 3, 1, 1) + 1
    torch.manual_seed(0)
    out = A.rand_translation(x)
    torch.manual_seed(0)
    rows, cols = torch.randint(-2, 3, (64,)), torch.randint(-2, 3, (64,))
    assert torch.equal(out, A.translation(x, rows, cols))
    assert {int(r) for r in rows} == {-2, -1, 0, 1, 2}


def test_cutout_zeroes_exactly_a_half_size_square():
    x = torch.ones(1, 3, 8, 8)
    out = A.cutout(x, torch.tensor([2]), torch.tensor([3]), 4, 4)
    want = torch.ones(8, 8)
    want[2:6, 3:7] = 0
    assert torch.equal(out[0], want.expand(3, 8, 8))
    torch.manual_seed(1)
    out = A.rand_cutout(torch.ones(200, 1, 8, 8))
    zeros = (out == 0).sum((1, 2, 3))
    assert zeros.max() == 16 and zeros.min() >= 4  # a 4x4 square, cut by the edges when its centre is near them
    rows_cut = (out == 0).any(3).sum(2).flatten()
    cols_cut = (out == 0).any(2).sum(2).flatten()
    assert torch.equal(rows_cut * cols_cut, zeros)  # a rectangle


def test_policy_words_and_the_config_s_list_agree():
    assert A.policy_words(" Color ,cutout") == ("color", "cutout")
    assert set(C.AUGMENT_WORDS) == set(A.AUGMENTS) and A.DEFAULT_POLICY == TrainConfig().augment_policy
    with pytest.raises(ValueError, match="unknown augmentation 'zoom'"):
        A.policy_words("color,zoom")


def test_channels_last_stays_channels_last_and_each_image_gets_its_own_draw():
    x = torch.randn(8, 3, 16, 16).contiguous(memory_format=torch.channels_last)
    out = A.diff_augment(x)
    assert out.is_contiguous(memory_format=torch.channels_last)
    same = torch.randn(1, 3, 16, 16).expand(8, -1, -1, -1).contiguous()
    out = A.diff_augment(same)
    assert not torch.equal(out[0], out[1])


def test_the_gradient_flows_through_the_augmentation_to_the_generator():
    model = create_model("pix2pix", DataInfo(size=32), {"ngf": 4, "ndf": 4})
    trainer = Trainer.for_step(Config(train=TrainConfig(augment="diff")), model, CPU)
    batch = make_batch("pix2pix", model.info)
    fake = model.fake(batch)["fake_B"]
    leaf = fake.detach().requires_grad_(True)
    loss = model.discriminator_step(batch, {"fake_B": leaf})["total"]
    (grad,) = torch.autograd.grad(loss, leaf)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    model.zero_grad()
    model.generator_step(batch, {"fake_B": fake})["G_GAN"].backward()
    grads = [p.grad for p in model.netG.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads) and sum(g.abs().sum() for g in grads) > 0
    # real and fake in D; in G the fake pair and, for the feature matching, the real one
    assert trainer.augment is not None and trainer.augment.calls == 4


def test_feature_matching_compares_both_pairs_under_the_same_random_transforms():
    model = create_model("pix2pix", DataInfo(size=32), {"ngf": 4, "ndf": 4, "spectral_norm": False})  # lambda_fm 10
    Trainer.for_step(Config(train=TrainConfig(augment="diff")), model, CPU)
    batch = make_batch("pix2pix", model.info, 4)
    model.netD.eval()  # no batch-norm statistics of its own per pass: a fake equal to the target has the same features
    same = model.generator_step(batch, {"fake_B": batch["B"].clone()})
    assert same["G_FM"] == 0
    torch.manual_seed(1)
    other = model.generator_step(batch, {"fake_B": batch["B"].flip(-1)})
    assert other["G_FM"] > 0


# -- the engine's hook on every model --------------------------------------------------------------------
CASES = [(name, {}) for name in list_models()] + [("gan", {"feature_matching": True})]


@pytest.mark.parametrize("name,extra", CASES, ids=[n + ("_fm" if e else "") for n, e in CASES])
def test_every_discriminator_call_of_both_steps_sees_augmented_images(name, extra):
    info = tiny_info(name)
    model = create_model(name, info, {**tiny_opts(name), **extra})
    model.critic_steps = lambda g_step: 1  # one critic step, then a generator step, in each iteration
    batch = make_batch(name, info)
    trainer = Trainer.for_step(Config(model=name, train=TrainConfig(augment="diff")), model, CPU, batch=batch)
    given, seen = [], []
    for n in model.discriminators:
        net = getattr(model, n)
        net.register_forward_pre_hook(lambda m, args: given.append(args[0]), prepend=True)  # before the augmentation
        net.register_forward_pre_hook(lambda m, args: seen.append(args[0]))  # after it
    counts = {}
    for step in ("discriminator_step", "generator_step"):
        original = getattr(model, step)

        def counted(batch, fakes, original=original, step=step):
            before, calls = trainer.augment.calls, len(given)
            out = original(batch, fakes)
            counts[step] = (trainer.augment.calls - before, len(given) - calls)
            return out

        setattr(model, step, counted)
    trainer.train_step(batch)
    d_aug, d_forward = counts["discriminator_step"]
    g_aug, g_forward = counts["generator_step"]
    # the G step's D calls are features(...): DiscoGAN's, GAN's feature matching and pix2pix's (lambda_fm, its default)
    features = name in ("discogan", "pix2pix") or extra.get("feature_matching")
    assert d_aug == d_forward >= 1 and (g_aug >= 2 if features else g_aug == g_forward >= 1)
    assert given and all(not torch.equal(a, b) for a, b in zip(given, seen))


def test_with_augment_none_nothing_is_installed_and_the_run_is_what_it_was():
    def losses(augment_first: bool):
        torch.manual_seed(0)
        model = create_model("discogan", tiny_info("discogan"), tiny_opts("discogan"))
        if augment_first:  # a trainer with diff, then one with none, on the same model: the second removes it all
            Trainer.for_step(Config(model="discogan", train=TrainConfig(augment="diff")), model, CPU)
        trainer = Trainer.for_step(Config(model="discogan"), model, CPU)
        assert trainer.augment is None
        for n in model.discriminators:
            assert not getattr(model, n)._forward_pre_hooks and "features" not in vars(getattr(model, n))
        torch.manual_seed(1)
        return trainer.train_step(make_batch("discogan", model.info))

    a, b = losses(False), losses(True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_pix2pix_moves_both_halves_alike_and_colours_only_the_output_half():
    model = create_model("pix2pix", DataInfo(input_nc=1, output_nc=3, size=32), {"ngf": 4, "ndf": 4})
    assert model.condition_channels == 1
    trainer = Trainer.for_step(Config(train=TrainConfig(augment="diff")), model, CPU)
    assert trainer.augment.condition == 1
    a = torch.rand(4, 1, 16, 16) + 0.5
    pair = torch.cat([a, a.expand(-1, 3, -1, -1)], 1)
    out = A.diff_augment(pair, "translation,cutout", condition=1)
    assert torch.equal(out[:, :1].expand(-1, 3, -1, -1), out[:, 1:]) and not torch.equal(out, pair)
    out = A.diff_augment(pair, "color", condition=1)
    assert torch.equal(out[:, :1], a) and not torch.allclose(out[:, 1:], pair[:, 1:])
    out = A.diff_augment(pair, condition=1)  # the whole policy: where the geometry put 0 in one half, it did in the other
    assert torch.equal(out[:, :1] == 0, (out[:, 1:] == 0).all(1, keepdim=True))


# -- the command line, resume, errors --------------------------------------------------------------------
def test_fit_with_augment_diff_trains_with_finite_losses_and_resumes_as_a_straight_run(runner, paired_dir, tmp_path, monkeypatch):
    result = runner.invoke(app, ["fit", "--paired", str(paired_dir), "--runs-dir", str(tmp_path / "cli"), "--steps", "2",
                                 "--load-size", "64", "--crop-size", "64", "--ngf", "4", "--ndf", "4", "--log-every", "1",
                                 "--augment", "diff", "--augment-policy", "color,translation,cutout"])
    assert result.exit_code == 0, result.output
    run = next((tmp_path / "cli").iterdir())
    assert api.load_config(run).train.augment == "diff"
    with open(run / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 and all(float(r[k]) == float(r[k]) and abs(float(r[k])) < 1e6 for r in rows for k in ("D_real", "G_GAN"))

    cfg = tiny_paired_config(paired_dir, tmp_path / "runs", steps=4, checkpoint_every=2, augment="diff")
    straight = api.fit(cfg, progress=False)
    killed = fit_killed_at(cfg, 3, monkeypatch)
    resumed = api.resume(killed, progress=False)
    a, b = safe_load(straight["checkpoint"])["model"], safe_load(resumed["checkpoint"])["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_bad_policy_and_point_data_are_one_line_errors(runner, paired_dir, tmp_path):
    line = one_line_error(runner.invoke(app, ["fit", "--paired", str(paired_dir), "--runs-dir", str(tmp_path / "r"),
                                              "--augment", "diff", "--augment-policy", "color,zoom"]))
    assert line == "error: --augment-policy must be comma-separated words of color, translation, cutout, not 'zoom'"
    line = one_line_error(runner.invoke(app, ["fit", "--toy", "ring8", "--model", "gan", "--runs-dir", str(tmp_path / "r"),
                                              "--steps", "1", "--augment", "diff"]))
    assert line == "error: --augment diff transforms images and this run's data are 2-D points: leave --augment none"
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())
