"""The generators' moving average: its formula, its cost (no device reads), its batch-norm statistics and its
checkpoints."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, update_bn

from conftest import count_host_reads, fit_killed_at, tiny_paired_config
from translate import api
from translate.engine.ema import GeneratorEMA
from translate.engine.trainer import Trainer
from translate.files import safe_load


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 3, 1))


class Model(nn.Module):
    generators = ("netG",)

    def __init__(self):
        super().__init__()
        self.netG = Net()


class PreviousEMA:
    """The average as it was computed before (torch's AveragedModel, which reads its device counter at each
    update), kept here to pin the numbers down."""

    def __init__(self, model, decay):
        self.live = nn.ModuleDict({name: getattr(model, name) for name in model.generators})
        self.decay, self.updates = decay, 0
        self.average = AveragedModel(self.live, multi_avg_fn=self._lerp, use_buffers=False)

    def _lerp(self, averaged, current, num_averaged):
        weight = (1.0 - self.decay) / (1.0 - self.decay ** (self.updates + 1))
        torch._foreach_lerp_(averaged, current, weight)

    @torch.no_grad()
    def update(self):
        self.average.update_parameters(self.live)
        self.updates += 1


def _train_a_little(model, steps, every_step):
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(steps):
        out = model.netG.body(torch.randn(2, 3, 6, 6))
        opt.zero_grad()
        out.square().mean().backward()
        opt.step()
        every_step()


def test_ema_equals_the_previous_formula_at_every_1():
    torch.manual_seed(1)
    model = Model()
    twin = copy.deepcopy(model)
    new, old = GeneratorEMA(model, 0.9), PreviousEMA(twin, 0.9)
    _train_a_little(model, 25, new.update)
    _train_a_little(twin, 25, old.update)
    assert new.updates == old.updates == 25
    for a, b in zip(new.module.parameters(), old.average.module.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    for a, b in zip(new.module.buffers(), old.average.module.buffers()):  # buffers copied as they are
        assert torch.equal(a, b)
    assert int(new.state_dict()["average"]["n_averaged"]) == int(old.average.n_averaged)  # the same layout
    assert set(new.state_dict()["average"]) == set(old.average.state_dict())


def test_ema_every_k_averages_each_kth_step_with_decay_to_the_k():
    model = Model()
    ema = GeneratorEMA(model, 0.9, every=3)
    snapshots = []

    def step():
        if ema.update():
            snapshots.append([p.detach().clone() for p in model.parameters()])

    _train_a_little(model, 10, step)
    assert ema.seen == 10 and ema.updates == len(snapshots) == 4  # steps 1, 4, 7, 10
    d = 0.9**3
    ages = [d ** (len(snapshots) - 1 - i) for i in range(len(snapshots))]
    for j, p in enumerate(ema.module.parameters()):
        expected = sum(a * s[j] for a, s in zip(ages, snapshots)) / sum(ages)
        torch.testing.assert_close(p, expected, rtol=1e-5, atol=1e-6)


def test_ema_update_has_no_sync(monkeypatch):
    """No update reads the device: on a GPU each read would make the step wait for the device."""
    model = Model()
    ema = GeneratorEMA(model, 0.999, every=2)
    ema.update()  # the first (a copy) as well as the later ones
    reads = []
    for name in ("item", "__bool__", "__float__", "__int__", "tolist", "cpu"):
        original = getattr(torch.Tensor, name)
        monkeypatch.setattr(torch.Tensor, name, lambda self, *a, _o=original, _n=name, **k: reads.append(_n) or _o(self, *a, **k))
    fresh = GeneratorEMA(Model(), 0.999)
    for _ in range(5):
        ema.update()
        fresh.update()
    monkeypatch.undo()
    assert reads == [] and ema.updates == 3 and fresh.updates == 5


def _fit_keeping_trainer(cfg, monkeypatch):
    kept = {}
    original = Trainer.save_checkpoint

    def save(self):
        kept["trainer"] = self
        return original(self)

    monkeypatch.setattr(Trainer, "save_checkpoint", save)
    out = api.fit(cfg, progress=False)
    monkeypatch.setattr(Trainer, "save_checkpoint", original)
    return out, kept["trainer"]


def test_ema_batch_norm_statistics_recomputed_at_save(paired_dir, tmp_path, monkeypatch):
    """generator.pt pairs the averaged weights with batch-norm statistics of those weights (an update_bn pass
    over the training batches), not with the live weights' running statistics."""
    cfg = tiny_paired_config(paired_dir, tmp_path / "runs", steps=6, ema=0.9)
    out, trainer = _fit_keeping_trainer(cfg, monkeypatch)
    saved = safe_load(out["run_dir"] / "generator.pt")["state"]
    live = safe_load(out["checkpoint"])["model"]
    names = [k for k in saved if k.endswith("running_mean")]
    assert names
    expected = copy.deepcopy(trainer.ema.module["netG"])
    torch.manual_seed(cfg.train.seed)
    update_bn([b["A"] for b in trainer._statistics_batches()], expected)
    ref = expected.state_dict()
    for name in names:
        key = name.removeprefix("netG.")
        torch.testing.assert_close(saved[name], ref[key])
        torch.testing.assert_close(saved[name.replace("mean", "var")], ref[key.replace("mean", "var")])
    assert any(not torch.allclose(saved[n], live[n]) for n in names)
    # the training is left as it was: the live weights and statistics are back in the model
    assert all(torch.equal(v, trainer.model.state_dict()[k]) for k, v in live.items())


def test_ema_version_1_checkpoint_loads_with_its_age(paired_dir, tmp_path, monkeypatch):
    cfg = tiny_paired_config(paired_dir, tmp_path / "runs", steps=6, ema=0.9, ema_every=1)
    out, trainer = _fit_keeping_trainer(cfg, monkeypatch)
    state = safe_load(out["checkpoint"])
    average = state["ema"]["average"]
    names = [n for n, _ in trainer.model.named_parameters() if n.startswith("netG.")]
    # version 1 kept the averaged parameters by name and no count
    old = {**state, "version": 1, "ema": {"decay": 0.9, "shadow": {n: average[f"module.{n}"] for n in names}}}
    trainer._load_state(old)
    assert trainer.ema.updates == trainer.ema.seen == 6  # its age: the generator steps taken, not 1
    assert trainer.ema.weight() == pytest.approx(0.1 / (1 - 0.9**7))
    for n in names:
        assert torch.equal(trainer.ema.module.state_dict()[n], average[f"module.{n}"])
    lone = GeneratorEMA(trainer.model, 0.9)
    lone.load_state_dict(old["ema"])  # no age given: one update, as before
    assert lone.updates == 1
    every_4 = GeneratorEMA(trainer.model, 0.9, every=4)
    every_4.load_state_dict(old["ema"], age=8)  # 8 steps of decay 0.9: 2 updates of decay 0.9 ** 4
    assert every_4.updates == 2 and every_4.seen == 8


def test_ema_resume_equals_a_straight_run(paired_dir, tmp_path, monkeypatch):
    """N straight steps and N/2 + resume + N/2 give bit-identical averages and saved generators, with an
    update every 2 steps and the batch-norm statistics recomputed at each save (the kill comes after an odd
    checkpoint, so the resumed run must also keep its place between two updates)."""
    cfg = tiny_paired_config(paired_dir, tmp_path / "runs", steps=6, steps_decay=4, ema=0.9, ema_every=2)
    straight = api.fit(cfg, progress=False)
    run_b = fit_killed_at(cfg, 4, monkeypatch)
    assert safe_load(run_b / "checkpoints" / "last.pt")["step"] == 3
    resumed = api.resume(run_b, progress=False)
    a, b = safe_load(straight["checkpoint"]), safe_load(resumed["checkpoint"])
    assert a["ema"]["seen"] == b["ema"]["seen"] == 6 and int(a["ema"]["average"]["n_averaged"]) == 3
    assert all(torch.equal(v, b["ema"]["average"][k]) for k, v in a["ema"]["average"].items())
    assert all(torch.equal(v, b["model"][k]) for k, v in a["model"].items())
    ga, gb = (safe_load(r / "generator.pt")["state"] for r in (straight["run_dir"], run_b))
    assert all(torch.equal(v, gb[k]) for k, v in ga.items())


def test_ema_steps_have_no_sync_with_the_ema_on(paired_dir, tmp_path, monkeypatch):
    """Whole training steps with pix2pix's EMA (0.999) on, the first update included, read nothing back."""
    reads = count_host_reads(monkeypatch, {}, from_step=0)  # the first step, and its first update, included
    out = api.fit(tiny_paired_config(paired_dir, tmp_path / "runs", steps=4, log_every=4, ema=0.999), progress=False)
    assert out["step"] == 4 and reads == []
