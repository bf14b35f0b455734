"""The contract every registered model keeps, at 32x32 on CPU. A new model is tested by registering it."""

from __future__ import annotations

import pytest
import torch

from conftest import hinge_output_biases, make_batch, tiny_info, tiny_opts, vector_capable
from translate.models.base import Translator
from translate.registry import create_model, get_model_class, list_models

MODELS = list_models()
# every model on images; models whose task takes the toy layout also on 2-D points
CASES = [pytest.param(n, False, id=n) for n in MODELS] + [pytest.param(n, True, id=f"{n}-2d") for n in MODELS if vector_capable(n)]


def build(name, seed=0, vector=False):
    torch.manual_seed(seed)
    model = create_model(name, tiny_info(name, vector), tiny_opts(name))
    model.prepare(make_batch(name, model.info))  # networks shaped by the data (CUT's F); nothing for most models
    return model


def grads(params):
    return [p.grad is not None and bool(torch.isfinite(p.grad).all()) and p.grad.abs().sum() > 0 for p in params]


def test_registry_has_models():
    assert "pix2pix" in MODELS


@pytest.mark.parametrize("name,vector", CASES)
def test_step_finite_and_gradients_reach_only_the_intended_nets(name, vector):
    model = build(name, vector=vector)
    model.train()
    groups = model.param_groups()
    assert set(groups) == {"G", "D"}
    ids_g, ids_d = {id(p) for p in groups["G"]}, {id(p) for p in groups["D"]}
    assert not ids_g & ids_d, "a parameter is in both groups"
    assert ids_g | ids_d == {id(p) for p in model.parameters()}, "every parameter belongs to G or D"
    batch = make_batch(name, model.info)

    fakes = model.fake(batch)
    d = model.discriminator_step(batch, {k: v.detach() for k, v in fakes.items()})
    assert all(torch.isfinite(v).all() for v in d.values()), d
    d["total"].backward()
    assert all(p.grad is None for p in groups["G"]), "the D step reached the generator"
    d_got = grads([p for p in groups["D"] if id(p) not in hinge_output_biases(model)])

    model.zero_grad(set_to_none=True)
    for p in groups["D"]:
        p.requires_grad_(False)
    g = model.generator_step(batch, fakes)
    assert all(torch.isfinite(v).all() for v in g.values()), g
    g["total"].backward()
    for p in groups["D"]:
        p.requires_grad_(True)
    assert all(p.grad is None for p in groups["D"]), "the G step reached the discriminator"
    g_got = grads(groups["G"])
    assert all(d_got), f"{d_got.count(False)} D parameters got no gradient"
    assert all(g_got), f"{g_got.count(False)} G parameters got no gradient"


def _infer(model, batch):
    model.eval()
    with torch.no_grad():
        torch.manual_seed(123)
        if isinstance(model, Translator):
            return torch.cat([model.translate(batch["A"], d) for d in model.directions])
        labels = batch.get("label")
        return model.sample(2, labels)


@pytest.mark.parametrize("name,vector", CASES)
def test_save_load_gives_identical_outputs(name, vector, tmp_path):
    from translate.files import atomic_save, safe_load

    model = build(name, seed=1, vector=vector)
    batch = make_batch(name, model.info)
    atomic_save(model.state_dict(), tmp_path / "m.pt")
    other = build(name, seed=2, vector=vector)
    other.load_state_dict(safe_load(tmp_path / "m.pt"))
    assert torch.equal(_infer(model, batch), _infer(other, batch))


@pytest.mark.parametrize("name,vector", CASES)
def test_inference_weights_rebuild_the_generator(name, vector, tmp_path):
    model = build(name, seed=1, vector=vector)
    batch = make_batch(name, model.info)
    other = build(name, seed=2, vector=vector)
    missing, unexpected = other.load_state_dict(model.inference_state(), strict=False)
    assert not unexpected
    assert torch.equal(_infer(model, batch), _infer(other, batch))


@pytest.mark.parametrize("name,vector", CASES)
def test_same_seed_same_result(name, vector, tmp_path):
    from translate.config import Config, TrainConfig
    from translate.engine.trainer import Trainer

    outs = []
    for _ in range(2):
        model = build(name, seed=3, vector=vector)
        batch = make_batch(name, model.info)
        trainer = Trainer.for_step(Config(model=name, train=TrainConfig(seed=3)), model, torch.device("cpu"), batch=batch)
        torch.manual_seed(3)
        losses = trainer.train_step(batch)
        assert all(torch.isfinite(v).all() for v in losses.values())
        outs.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(outs[0], outs[1])


# -- every option does something -------------------------------------------------------------------
# The value tried for an option whose default the generic rule (bool: flipped; number: halved, or 0 -> 1 or
# 0.1; tiny widths + 4) cannot pick, by option name or (model, option): the first candidate that is not the default.
OTHER_VALUE = {"net_g": ("unet_64",), ("cyclegan", "net_g"): ("resnet_9blocks",), "up": ("resize",), "norm": ("instance", "batch"),
               "recon": ("l1",), "regime": ("gp",), "critic_schedule": ("fixed",), "norm_d": ("none", "layer"),
               "pool_size": (1,), ("cut", "net_g"): ("resnet_6blocks",), ("fastcut", "net_g"): ("resnet_6blocks",),
               "nce_layers": ("0,4,8",), "init_type": ("normal",), "num_patches": (8,), "curriculum": (0,), "nz": (16,), "n_layers_d": (2,), "g_per_d": (3,), "beta2": (0.5,),
               "gan_mode": ("lsgan", "vanilla")}
# Options that act only together with another setting: the setting they are tried in.
CONTEXT = {("pix2pix", "dropout"): {"net_g": "unet_64"}, ("dualgan", "dropout"): {"net_g": "unet_64"},  # unet_32 has no dropout
           ("dualgan", "lambda_gp"): {"regime": "gp"}, ("dualgan", "beta1"): {"regime": "gp"},
           ("dualgan", "beta2"): {"regime": "gp"}, ("gan", "instance_noise_steps"): {"instance_noise": 0.5},
           ("gan", "hidden"): "2-d", ("gan", "minibatch_kernels"): "2-d", ("wgan", "hidden"): "2-d",
           ("wgan_gp", "hidden"): "2-d"}
# Options that change none of what the test looks at, and why (none today: add one only with its reason).
INERT: dict[tuple[str, str], str] = {}


def _other_value(name, key, default):
    for k in ((name, key), key):
        if k in OTHER_VALUE:
            return next(v for v in OTHER_VALUE[k] if v != default)
    if key in ("ngf", "ndf", "hidden"):
        return default + 4
    if isinstance(default, bool):
        return not default
    if isinstance(default, (int, float)):
        return (default / 2 if isinstance(default, float) else default + 1) if default else (1 if isinstance(default, int) else 0.1)
    raise AssertionError(f"no other value for {name}.{key} = {default!r}: add one to OTHER_VALUE")


def _what_a_model_does(name, opts, vector):
    """What an option can change: the networks' parameter shapes, every loss on two fixed batches (seeded,
    at generator steps 0, 5000 and 10**6), the optimizers, the critic schedule and the weights after
    ``after_d_step`` (clipping)."""
    torch.manual_seed(0)
    model = create_model(name, tiny_info(name, vector), {**tiny_opts(name), **opts}).train()
    batches = [make_batch(name, model.info, seed=s) for s in (0, 1)]
    model.prepare(batches[0])
    shapes = [(k, tuple(p.shape)) for k, p in model.named_parameters()]
    values = []
    for g_step in (0, 5000, 10**6):
        model.g_step = g_step
        torch.manual_seed(1)
        for batch in batches:
            fakes = model.fake(batch)
            d = model.discriminator_step(batch, {k: v.detach() for k, v in fakes.items()})
            g = model.generator_step(batch, fakes)
            values += [(k, float(v.detach())) for k, v in sorted({**{f"D.{k}": v for k, v in d.items()}, **g}.items())]
    schedule = [model.critic_steps(g) for g in range(1001)]
    model.after_d_step()
    clipped = [float(p.detach().abs().max()) for p in model.param_groups()["D"]]
    return shapes, values, model.optimizers(), schedule, clipped


@pytest.mark.parametrize("name", MODELS)
def test_defaults_every_option_changes_something_or_says_why_not(name):
    """Each option of a model's Config changes its networks, a loss on a fixed batch, its optimizers, its
    critic schedule or its clipping (or is listed in INERT with the reason): an option the model accepts and
    ignores (as cgan once took gan's stabilisers) fails here."""
    import dataclasses

    from translate.registry import get_model_class

    default_cfg = get_model_class(name).Config()
    silent = []
    for f in dataclasses.fields(default_cfg):
        if (name, f.name) in INERT:
            continue
        context = CONTEXT.get((name, f.name), {})
        vector = context == "2-d"
        base = {} if vector else dict(context)
        value = _other_value(name, f.name, base.get(f.name, getattr(default_cfg, f.name)))
        if _what_a_model_does(name, base, vector) == _what_a_model_does(name, {**base, f.name: value}, vector):
            silent.append(f"{f.name}={value!r}")
    assert not silent, f"{name}: these options change nothing: {', '.join(silent)}"


# -- the defaults, as a user runs them ----------------------------------------------------------------
# What each built-in model runs with when nothing is given (its module docstring says why): inference mode, EMA
# decay (train.ema) and learning-rate policy. A plug-in model is held to what it declares.
DEFAULT_BEHAVIOUR = {
    "pix2pix": ("paper", 0.999, "linear_epochs"),
    "cyclegan": ("eval", 0.0, "linear_epochs"),
    "discogan": ("eval", 0.0, "constant"),
    "dualgan": ("paper", 0.0, "constant"),
    "gan": ("eval", 0.0, "constant"),
    "cgan": ("eval", 0.0, "constant"),
    "wgan": ("eval", 0.0, "constant"),
    "wgan_gp": ("eval", 0.0, "constant"),
    "cut": ("eval", 0.0, "linear_epochs"),
    "fastcut": ("eval", 0.0, "linear_epochs"),
}


def _batch_norms(net):
    from translate.nn.layers import PerImageBatchNorm2d

    kinds = [type(m) for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    return sum(k is PerImageBatchNorm2d for k in kinds), len(kinds)


@pytest.mark.parametrize("name", MODELS)
def test_defaults_train_three_iterations_with_the_model_s_own_settings(name):
    """Every model trains 3 iterations with its own defaults, only its sizes changed (ngf, ndf, crop, batch):
    its inference mode, EMA and learning-rate schedule are the ones in effect in the engine (the sample grids
    and scores run in that mode with the averaged weights; the learning rate follows the policy)."""
    import dataclasses

    from translate import api
    from translate.config import TrainConfig
    from translate.engine.trainer import Trainer, lr_factor
    from translate.registry import get_model_class

    cls = get_model_class(name)
    declared = (cls.inference_mode, cls.defaults.get("train", {}).get("ema", TrainConfig().ema),
                cls.defaults.get("train", {}).get("lr_policy", TrainConfig().lr_policy))
    assert DEFAULT_BEHAVIOUR.get(name, declared) == declared  # a built-in model's as pinned above; a plug-in's as it says
    mode, ema, policy = declared
    widths = {k: 8 for k in ("ngf", "ndf") if k in {f.name for f in dataclasses.fields(cls.Config)}}
    cfg = api.resolve_config({"model": name, "data": {"load_size": 32, "crop_size": 32}, "train": {"batch_size": 2, "device": "cpu"},
                              "model_opts": widths})
    changed = {f"{s}.{k}" for s in ("data", "train") for k, v in dataclasses.asdict(getattr(cfg, s)).items()
               if v != dataclasses.asdict(getattr(api.model_defaults(name), s))[k]}
    assert changed <= {"data.load_size", "data.crop_size", "train.batch_size", "train.device"}, changed
    torch.manual_seed(0)
    model = create_model(name, tiny_info(name), cfg.model_opts)
    trainer = Trainer.for_step(cfg, model, torch.device("cpu"), batch=make_batch(name, model.info, n=2))
    model.train()
    for i in range(3):
        losses = trainer.iteration(make_batch(name, model.info, n=2, seed=i))
        assert all(torch.isfinite(v).all() for v in losses.values()), losses

    assert model.inference_mode == mode and trainer.tc.ema == ema and trainer.tc.lr_policy == policy
    for group, opt in trainer.optimizers.items():  # the schedule in effect, from the model's own learning rate
        want = model.cfg.lr * lr_factor(trainer.tc, trainer.step, trainer.total, trainer.decay_start, trainer.iters_per_epoch)
        assert opt.param_groups[0]["lr"] == pytest.approx(want, rel=1e-12), group
    assert (trainer.ema is not None) == (ema > 0)
    if trainer.ema is not None:
        every = trainer.tc.ema_every  # the first generator step and every ema_every-th after it
        assert trainer.ema.decay == ema and trainer.ema.every == every and trainer.g_steps == 3
        assert trainer.ema.updates == -(-3 // every)
        averaged = dict(trainer.ema.module.state_dict())
    live = {f"{n}.{k}": v.clone() for n in model.generators for k, v in getattr(model, n).state_dict().items()}
    with trainer._inference():
        per_image, total = _batch_norms(getattr(model, model.generators[0]))
        assert per_image == (total if mode == "paper" else 0), (per_image, total)
        dropouts = [m.training for n in model.generators for m in getattr(model, n).modules() if isinstance(m, torch.nn.Dropout)]
        assert all(d == (mode == "paper") for d in dropouts)
        now = {f"{n}.{k}": v for n in model.generators for k, v in getattr(model, n).state_dict().items()}
        if trainer.ema is not None:  # the averaged weights, not the live ones
            assert set(averaged) == set(now)
            assert all(torch.equal(now[k], averaged[k]) for k in averaged if now[k].is_floating_point() and "running" not in k)
            assert any(not torch.equal(now[k], live[k]) for k in averaged if k in now and now[k].is_floating_point())
    assert _batch_norms(getattr(model, model.generators[0]))[0] == 0 and model.training


# Exact parameter counts at the default widths, each derived from the reference code (the official pix2pix and
# CycleGAN networks, pytorch/examples' DCGAN that the GAN and WGAN authors' code uses at 64x64, SKTBrain's
# DiscoGAN, the DualGAN paper's pix2pix U-Net and PatchGAN). (model, size, classes): {network: count}.
REFERENCE_COUNTS = {
    # with the paper's settings (paper_settings: the default D is spectrally normalised instead, in test_pix2pix.py)
    ("pix2pix", 256, 0): {"netG": 54_413_955, "netD": 2_768_705},  # U-Net-256; PatchGAN on 6 channels, batch norm
    ("cyclegan", 256, 0): {"netG_AB": 11_378_179, "netD_A": 2_764_737},  # ResNet-9; PatchGAN, instance norm (biases)
    # DCGAN 64x64, nz 100: G 3,576,704 (convT 100-512-256-128-64-3 without biases + batch norm), D 2,765,568
    ("gan", 64, 0): {"netG": 3_576_704, "netD": 2_765_568},
    ("wgan", 64, 0): {"netG": 3_576_704, "netD": 2_765_568},  # the authors' DCGAN_G / DCGAN_D
    # the critic without batch norm: 2,765,568 - 1,792 (its affine weights) + 896 (biases of convs 2-4)
    ("wgan_gp", 64, 0): {"netG": 3_576_704, "netD": 2_764_672},
    # one-hot labels of 10 classes at the input: G +10 x 512 x 16 = 81,920; D +10 x 64 x 16 = 10,240
    ("cgan", 64, 10): {"netG": 3_658_624, "netD": 2_775_808},
    # SKTBrain/DiscoGAN model.py: encoder 3-64-128-256-512, decoder back, no biases, batch norm; D is DCGAN's
    ("discogan", 64, 0): {"netG_AB": 5_513_856, "netD_A": 2_765_568},
    # the paper's U-Net-256; the PatchGAN critic with batch norm (clip regime): 2,764,737 + 1,792 (affine)
    # - 896 (conv biases batch norm replaces) - 1 (the output bias a Wasserstein critic cannot train)
    ("dualgan", 256, 0): {"netG_AB": 54_413_955, "netD_A": 2_765_632},
    # taesungp/contrastive-unpaired-translation: ResNet-9 with anti-aliased resampling (blur filters are buffers, so
    # CycleGAN's count), the anti-aliased PatchGAN with instance norm; F (560,384) is pinned in test_cut.py
    ("cut", 256, 0): {"netG": 11_378_179, "netD": 2_764_737},
    ("fastcut", 256, 0): {"netG": 11_378_179, "netD": 2_764_737},
}


@pytest.mark.parametrize("key", list(REFERENCE_COUNTS), ids=[k[0] for k in REFERENCE_COUNTS])
def test_defaults_parameter_counts_equal_the_reference_code(key):
    """Exact counts of every network at the model's default widths with its paper's settings, and the run log
    prints each exactly."""
    from translate.engine.trainer import model_summary
    from translate.nn.layers import count_parameters
    from translate.types import DataInfo

    name, size, classes = key
    info = DataInfo(size=size, class_names=tuple(f"c{i}" for i in range(classes)))
    model = create_model(name, info, get_model_class(name).paper_settings.get("model_opts"))  # the reference code's networks
    lines = model_summary(model)
    for net, count in REFERENCE_COUNTS[key].items():
        assert count_parameters(getattr(model, net)) == count, net
        assert any(line.startswith(f"{net}: ") and f"({count:,})" in line for line in lines), lines
    assert not set(MODELS) - {k[0] for k in REFERENCE_COUNTS}, "pin the counts of every registered model"
