from __future__ import annotations

import ast
import dataclasses

import csv
from pathlib import Path

import pytest
import torch

from PIL import Image

from conftest import fit_killed_at, hinge_output_biases, tiny_paired_config
from translate import api
from translate.files import atomic_save, safe_load
from translate.registry import model_config
from translate.engine.trainer import Trainer, lr_factor
from translate.errors import UserError


def _states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _metric_steps(run_dir):
    with open(run_dir / "metrics.csv") as fh:
        return [int(r["step"]) for r in csv.DictReader(fh)]


def test_resume_after_a_kill_equals_a_straight_run(paired_dir, tmp_path, monkeypatch):
    # linear decay, EMA and dropout all take part, so every piece of state must be restored
    cfg = tiny_paired_config(paired_dir, tmp_path / "runs", steps=6, steps_decay=4, ema=0.9)
    straight = api.fit(cfg, progress=False)
    run_b = fit_killed_at(cfg, 4, monkeypatch)  # dies one iteration after the step-3 checkpoint
    assert safe_load(run_b / "checkpoints" / "last.pt")["step"] == 3
    resumed = api.resume(run_b, progress=False)

    assert resumed["step"] == straight["step"] == 6 and resumed["steps_run"] == 3
    a, b = safe_load(straight["checkpoint"]), safe_load(resumed["checkpoint"])
    assert _states_equal(a["model"], b["model"])
    assert _states_equal(a["ema"]["average"], b["ema"]["average"])
    assert a["optimizers"]["G"]["state"][0]["exp_avg"].equal(b["optimizers"]["G"]["state"][0]["exp_avg"])
    assert _metric_steps(run_b) == [1, 2, 3, 4, 5, 6]  # rows past the checkpoint were replaced, not duplicated
    assert _states_equal(safe_load(straight["run_dir"] / "generator.pt")["state"], safe_load(run_b / "generator.pt")["state"])


def test_resume_with_more_steps_extends_a_finished_run(paired_dir, tmp_path):
    cfg = tiny_paired_config(paired_dir, tmp_path / "runs", steps=2)
    first = api.fit(cfg, progress=False)
    more = api.resume(first["run_dir"], {"steps": 4}, progress=False)
    assert (more["step"], more["steps_run"]) == (4, 2)
    assert api.load_config(first["run_dir"]).train.steps == 4


def test_every_run_ends_with_grid_checkpoint_metrics_and_weights(paired_dir, tmp_path):
    cfg = tiny_paired_config(paired_dir, tmp_path / "runs", steps=1, log_every=50, sample_every=50, checkpoint_every=50)
    out = api.fit(cfg, progress=False)
    run = out["run_dir"]
    assert sorted(p.name for p in (run / "samples").glob("*.png")) == ["step_00000001.png"]
    assert (run / "checkpoints" / "last.pt").is_file() and (run / "generator.pt").is_file()
    assert _metric_steps(run) == [1]
    header = (run / "metrics.csv").read_text().splitlines()[0].split(",")
    assert header[:4] == ["step", "epoch", "lr", "images_per_s"] and {"D", "G", "G_L1", "G_GAN"} <= set(header)
    assert api.load_config(run) == dataclasses.replace(cfg, model_opts=model_config("pix2pix", cfg.model_opts))
    assert not list(run.rglob(".*.tmp")), "temporary files left behind"
    log_txt = (run / "log.txt").read_text()  # the model summary: net_g auto chose unet_64 for 64x64 crops
    assert "netG: UnetGenerator unet_64 (6 levels), 0.12 M parameters (115,115)" in log_txt
    # spectrally normalised, no batch norm: convolutions 6-4-8-16-32-1 with biases, 388 + 520 + 2064 + 8224 + 513
    assert "netD: PatchGAN 70x70 patches, 0.01 M parameters (11,709)" in log_txt
    assert "total: 0.13 M parameters (126,824; G 0.12 M, D 0.01 M)" in log_txt


def test_new_runs_never_overwrite_old_ones(paired_dir, tmp_path):
    cfg = tiny_paired_config(paired_dir, tmp_path / "runs", steps=1)
    names = [api.fit(cfg, progress=False)["run_dir"].name for _ in range(2)]
    assert names == ["t", "t-2"]


def test_checkpoints_are_last_and_previous_and_the_result_gives_their_sizes(paired_dir, tmp_path):
    out = api.fit(tiny_paired_config(paired_dir, tmp_path / "runs", steps=5, checkpoint_every=2), progress=False)
    ckpt = out["run_dir"] / "checkpoints"
    assert sorted(p.name for p in ckpt.iterdir()) == ["last.pt", "previous.pt"]
    assert (safe_load(ckpt / "last.pt")["step"], safe_load(ckpt / "previous.pt")["step"]) == (5, 4)
    assert out["checkpoint"] == ckpt / "last.pt" and out["checkpoint_bytes"] == (ckpt / "last.pt").stat().st_size
    assert out["weights_bytes"] == (out["run_dir"] / "generator.pt").stat().st_size < out["checkpoint_bytes"]


def test_checkpoint_rotation_keeps_the_newest_as_links(paired_dir, tmp_path):
    cfg = tiny_paired_config(paired_dir, tmp_path / "runs", steps=6, checkpoint_every=1, keep_checkpoints=2)
    run = api.fit(cfg, progress=False)["run_dir"]
    ckpt = run / "checkpoints"
    assert sorted(p.name for p in ckpt.iterdir()) == ["last.pt", "previous.pt", "step_00000005.pt", "step_00000006.pt"]
    assert (ckpt / "step_00000006.pt").samefile(ckpt / "last.pt") and (ckpt / "step_00000005.pt").samefile(ckpt / "previous.pt")


def test_a_stop_right_after_a_checkpoint_keeps_the_one_before(paired_dir, tmp_path):
    # step 3 is checkpointed in the loop and again at the end: previous.pt must still be step 2
    run = api.fit(tiny_paired_config(paired_dir, tmp_path / "runs", steps=3, checkpoint_every=1), progress=False)["run_dir"]
    assert safe_load(run / "checkpoints" / "previous.pt")["step"] == 2
    api.resume(run, progress=False)  # nothing left to run: saves step 3 again
    assert safe_load(run / "checkpoints" / "previous.pt")["step"] == 2


@pytest.mark.parametrize("fault", ["missing", "damaged"])
def test_resume_falls_back_to_previous_when_last_is_missing_or_damaged(paired_dir, tmp_path, caplog, fault):
    run = api.fit(tiny_paired_config(paired_dir, tmp_path / "runs", steps=4, checkpoint_every=2), progress=False)["run_dir"]
    last = run / "checkpoints" / "last.pt"
    if fault == "missing":  # killed between the two renames of a checkpoint write
        last.unlink()
    else:
        last.write_bytes(last.read_bytes()[:1000])
    with caplog.at_level("INFO", logger="translate"):
        out = api.resume(run, {"steps": 5}, progress=False)
    assert "previous.pt (step 2) instead" in caplog.text and "previous.pt (step 2) instead" in (run / "log.txt").read_text()
    assert out["steps_run"] == 3 and _metric_steps(run) == [1, 2, 3, 4, 5]
    assert (run / "checkpoints" / "last.pt.damaged").exists() == (fault == "damaged")
    assert safe_load(run / "checkpoints" / "previous.pt")["step"] == 4  # the damaged file never became previous.pt


class Evil:
    def __reduce__(self):
        return (print, ("code ran",))


def test_loading_never_runs_code_from_a_checkpoint(tmp_path, capsys):
    atomic_save({"model": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(UserError, match="evil.pt: cannot load"):
        safe_load(tmp_path / "evil.pt")
    assert "code ran" not in capsys.readouterr().out


def test_linear_policy_is_constant_then_decays_to_zero():
    class C:
        lr_policy = "linear"

    values = [lr_factor(C, it, total=10, decay_start=5, iters_per_epoch=1) for it in range(10)]
    assert values[:6] == [1.0] * 6
    assert all(a > b for a, b in zip(values[5:], values[6:])) and values[-1] == pytest.approx(1 / 5)


def _toy_trainer(steps: int = 20) -> Trainer:
    """A for_step trainer of a tiny WGAN-GP on 2-D points (5 critic steps per generator step), linear decay
    over the last half of ``steps``."""
    from translate.config import Config, TrainConfig
    from translate.registry import create_model
    from translate.types import DataInfo

    torch.manual_seed(0)
    model = create_model("wgan_gp", DataInfo(input_nc=0, output_nc=0, size=0, dim=2), {"hidden": 8})
    tc = TrainConfig(steps=steps, steps_decay=steps // 2, lr_policy="linear", batch_size=4, channels_last=False)
    return Trainer.for_step(Config(model="wgan_gp", train=tc), model, torch.device("cpu"))


def test_run_calls_back_after_each_iteration_with_the_step_the_generator_steps_and_the_losses():
    trainer = _toy_trainer()
    base = trainer.lr
    torch.manual_seed(1)
    batches = iter([{"image": torch.randn(4, 2)} for _ in range(20)])
    seen = []
    trainer.run(batches, 12, lambda step, g, losses: seen.append((step, g, "G" in losses, trainer.lr)))
    assert [s for s, *_ in seen] == list(range(1, 13))
    assert [g for _, g, *_ in seen] == [s // 5 for s in range(1, 13)]  # a generator step every 5th batch
    assert [s for s, _, g_now, _ in seen if g_now] == [5, 10]
    # the learning rate is the schedule's for the next iteration: constant for 10, then down to 0 at 20
    assert [lr for *_, lr in seen] == [base * lr_factor(trainer.tc, s, 20, 10, 1) for s in range(1, 13)]
    trainer.run(batches, 8)  # the rest, without a callback
    assert (trainer.step, trainer.g_steps, trainer.lr) == (20, 4, 0.0)
    with pytest.raises(ValueError, match="ran out after 0 of 1"):
        trainer.run(batches, 1)


def test_a_run_split_in_two_equals_the_same_run_straight():
    torch.manual_seed(1)
    data = [{"image": torch.randn(4, 2)} for _ in range(20)]
    straight, split = _toy_trainer(), _toy_trainer()
    torch.manual_seed(2)  # the noise of G and of the gradient penalty
    straight.run(iter(data), 20)
    torch.manual_seed(2)
    split.run(iter(data[:7]), 7)
    split.run(iter(data[7:]), 13)
    assert _states_equal(straight.model.state_dict(), split.model.state_dict())


def test_fit_takes_every_iteration_through_the_method_run_takes(paired_dir, tmp_path, monkeypatch):
    calls = []
    original = Trainer.iteration

    def counted(self, batch):
        calls.append(self.step)
        return original(self, batch)

    monkeypatch.setattr(Trainer, "iteration", counted)
    out = api.fit(tiny_paired_config(paired_dir, tmp_path / "runs", steps=3), progress=False)
    assert out["step"] == 3 and calls == [0, 1, 2]


# Instance state of a trainer that code outside the engine may read (never write): api.py's log line reads
# the schedule's length and the sampler's epoch; the others are what the trainer was built with and its count.
READABLE = {"step", "total", "sampler", "model", "cfg"}


def trainer_internals(source: str) -> list[str]:
    """Where ``source`` reaches into a trainer. A trainer is the class ``Trainer``, a name or attribute
    assigned from a call of ``Trainer`` or one of its class methods (``Trainer.for_step(...)``), a parameter
    annotated ``Trainer``, or anything spelled ``trainer`` / ``self.trainer``. On a trainer, outside the
    engine: (1) no attribute whose name starts with ``_``; (2) no assignment, augmented assignment or
    deletion of an attribute, nor of anything reached through one (``trainer.step += 1``,
    ``trainer.optimizers["G"].param_groups[0]["lr"] = ...``); (3) reads only of the class's public names
    (methods, properties, constants: ``run``, ``fit``, ``lr``, ``g_steps``, ...) and of the instance state in
    ``READABLE`` -- so ``trainer.position`` or ``trainer.optimizers`` (whose param groups a loop then writes)
    is a finding. Rule 3 is a list of what may be read rather than of what may not, so that new internal
    state of the trainer is private until someone decides otherwise."""
    tree = ast.parse(source)
    public = {n for n in dir(Trainer) if not n.startswith("_")}
    trainers = {"Trainer", "trainer", "self.trainer"}

    def from_trainer(call) -> bool:
        func = call.func if isinstance(call, ast.Call) else None
        return func is not None and ast.unparse(func.value if isinstance(func, ast.Attribute) else func) == "Trainer"

    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and from_trainer(node.value):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            trainers.update(ast.unparse(t) for t in targets)
        elif isinstance(node, ast.arg) and node.annotation is not None and "Trainer" in ast.unparse(node.annotation):
            trainers.add(node.arg)

    def reaches_trainer(target) -> bool:  # an attribute or item of a trainer, at any depth
        while isinstance(target, (ast.Attribute, ast.Subscript)):
            target = target.value
            if ast.unparse(target) in trainers:
                return True
        return False

    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            found += [f"line {node.lineno}: writes {ast.unparse(t)}" for t in targets if reaches_trainer(t)]
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load) and ast.unparse(node.value) in trainers:
            if node.attr.startswith("_"):
                found.append(f"line {node.lineno}: private {ast.unparse(node)}")
            elif node.attr not in public and node.attr not in READABLE:
                found.append(f"line {node.lineno}: internal state {ast.unparse(node)}")
    return sorted(set(found), key=lambda f: (int(f.split()[1].rstrip(":")), f))


def test_no_module_outside_the_engine_reaches_into_a_trainer():
    """translate/**/*.py outside translate/engine/ use a trainer through its public surface only (see
    ``trainer_internals`` for the rule); the lab's loop before it used ``Trainer.run`` is the proof that the
    rule finds what it is for."""
    import translate

    package = Path(translate.__file__).parent
    modules = [p for p in sorted(package.rglob("*.py")) if "engine" not in p.relative_to(package).parts]
    assert len(modules) > 10 and package / "lab.py" in modules and package / "api.py" in modules
    found = {str(p.relative_to(package)): trainer_internals(p.read_text()) for p in modules}
    assert {name: f for name, f in found.items() if f} == {}
    # the rule sees the trainers there are: what api.py and lab.py do with one is checked, not skipped
    for name, uses in (("api.py", "trainer.fit()"), ("lab.py", "trainer.run(")):
        assert uses in (package / name).read_text()
    old_lab = '''
trainer = Trainer.for_step(Config(model=model, train=tc), net, torch.device("cpu"))
base_lr = {g: [pg["lr"] for pg in opt.param_groups] for g, opt in trainer.optimizers.items()}
for step in range(1, iterations + 1):
    for g, opt in trainer.optimizers.items():
        for pg, base in zip(opt.param_groups, base_lr[g]):
            pg["lr"] = base * factor
    losses = trainer.train_step({"image": data.points[idx]})
    trainer.step += 1
    row = {"step": step, "g_step": trainer.position[1]}
'''
    assert trainer_internals(old_lab) == ["line 3: internal state trainer.optimizers", "line 5: internal state trainer.optimizers",
                                          "line 9: writes trainer.step", "line 10: internal state trainer.position"]
    assert trainer_internals("def f(t: Trainer):\n    t._backward('G', x)\n    t.optimizers['G'].param_groups[0]['lr'] = 0\n") == [
        "line 2: private t._backward", "line 3: internal state t.optimizers", "line 3: writes t.optimizers['G'].param_groups[0]['lr']"]


def test_resume_without_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="not a run folder"):
        api.resume(tmp_path)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_steps_are_finite_and_fp16_uses_a_scaler(precision):
    from translate.config import Config, TrainConfig
    from translate.data.synthetic import random_batch
    from translate.types import DataInfo
    from translate.registry import create_model

    torch.manual_seed(0)
    model = create_model("pix2pix", DataInfo(size=32), {"ngf": 4, "ndf": 4})
    trainer = Trainer.for_step(Config(train=TrainConfig(precision=precision)), model, torch.device("cpu"))
    before = [p.detach().clone() for p in model.parameters()]
    for _ in range(5):  # fp16: the scaler skips the first steps whose gradients overflow, then backs off
        losses = trainer.train_step(random_batch("paired", model.info, 2))
        assert all(torch.isfinite(v) for v in losses.values())
    still = hinge_output_biases(model)  # no gradient while D's logits are inside the hinge's margin
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters()) if id(b) not in still)
    assert trainer.scalers["G"].is_enabled() == (precision == "fp16")


def test_ctrl_c_stops_after_the_iteration_with_a_resumable_checkpoint(paired_dir, tmp_path, monkeypatch):
    import os
    import signal

    original = Trainer.train_step

    def interrupted(self, batch):
        out = original(self, batch)
        if self.step == 1:  # 0-based: during the second iteration
            os.kill(os.getpid(), signal.SIGINT)
        return out

    monkeypatch.setattr(Trainer, "train_step", interrupted)
    out = api.fit(tiny_paired_config(paired_dir, tmp_path / "runs", steps=6, checkpoint_every=50), progress=False)
    assert out["stopped"] and out["step"] == 2
    assert safe_load(out["run_dir"] / "checkpoints" / "last.pt")["step"] == 2
    assert _metric_steps(out["run_dir"]) == [1, 2]
    with Image.open(out["run_dir"] / "results.png") as img:  # drawn at the end of a stopped run too
        assert img.format == "PNG"
    monkeypatch.setattr(Trainer, "train_step", original)
    assert api.resume(out["run_dir"], progress=False)["step"] == 6


def test_time_limit_stops_at_the_first_iteration_past_it_with_a_checkpoint(paired_dir, tmp_path, monkeypatch):
    import translate.engine.trainer as trainer_module

    class Clock:  # every iteration takes 25 s of this clock
        now = 1000.0

        @classmethod
        def perf_counter(cls):
            return cls.now

    original = Trainer.train_step

    def slow(self, batch):
        Clock.now += 25.0
        return original(self, batch)

    monkeypatch.setattr(trainer_module, "time", Clock)
    monkeypatch.setattr(Trainer, "train_step", slow)
    out = api.fit(tiny_paired_config(paired_dir, tmp_path / "runs", steps=6, checkpoint_every=50, time_limit=1.0), progress=False)
    assert out["stopped"] and out["reason"] == "time_limit" and out["step"] == 3  # 75 s >= 60 s after the third
    assert safe_load(out["run_dir"] / "checkpoints" / "last.pt")["step"] == 3
    resumed = api.resume(out["run_dir"], progress=False)  # a new process's minute: three more iterations, the schedule's end
    assert resumed["step"] == 6 and not resumed["stopped"] and resumed["reason"] == ""


def test_atomic_writes_get_ordinary_permissions(tmp_path):
    import os

    from translate.data.image_files import save_image
    from translate.files import atomic_write_text

    mask = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        save_image(__import__("numpy").zeros((4, 4, 3), "uint8"), tmp_path / "b.png")
    finally:
        os.umask(mask)
    assert {oct(p.stat().st_mode & 0o777) for p in tmp_path.iterdir()} == {"0o644"}


def test_the_progress_bar_fits_80_columns_with_step_speed_and_eta_and_losses_above(caplog):
    import io
    import re

    from rich.console import Console

    from translate.engine.progress import TrainProgress

    row = {"step": 120, "epoch": 0.06, "lr": 2e-4, "images_per_s": 3.4, "D": 0.69, "G": 12.3, "G_GAN": 0.7,
           "G_L1": 0.11, "D_real": 0.3, "D_fake": 0.4}
    now = [0.0]
    console = Console(file=io.StringIO(), width=80, force_terminal=True)
    with TrainProgress(True, 2000, 0, batch_size=4, console=console, clock=lambda: now[0]) as bar:
        for step in range(1, 121):
            now[0] += 1.2  # 1.2 s per iteration of 4 images
            bar.advance(step)
        bar.update(120, row)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", console.file.getvalue())
    lines = [ln for ln in re.split(r"[\r\n]", text) if ln.strip()]
    bars = [i for i, ln in enumerate(lines) if ln.startswith("train ")]
    final = lines[bars[-1]]
    assert len(final) <= 80 and re.search(r" 120/2000 3\.33 img/s 0:02:24 eta 0:37:36$", final), final
    above = next(i for i, ln in enumerate(lines) if ln.startswith("step 120/2000 epoch 0.06"))
    assert above < bars[-1] and "G_L1=0.11" in " ".join(lines[above:bars[-1]])

    with caplog.at_level("INFO", logger="translate"), TrainProgress(False, 2000, 0) as plain:
        plain.update(120, row)
    assert "step 120/2000 epoch 0.06 3.40 img/s lr=2.00e-04 D=0.69" in caplog.text


def test_results_png_is_redrawn_at_log_rows_and_at_the_end(paired_dir, tmp_path, monkeypatch):
    from translate.engine import plots

    drawn = []
    original = plots.write_results

    def spy(run_dir, metrics=None):
        out = original(run_dir, metrics)
        drawn.append((len(metrics.rows), out.read_bytes()))
        return out

    monkeypatch.setattr(plots, "write_results", spy)
    monkeypatch.setattr(Trainer, "PLOT_EVERY_S", 0.0)  # every log row, whatever the clock says
    out = api.fit(tiny_paired_config(paired_dir, tmp_path / "runs", steps=5, log_every=2), progress=False)
    assert [rows for rows, _ in drawn] == [1, 2, 3]  # rows at steps 2 and 4, then step 5 at the end
    assert drawn[0][1] != drawn[-1][1] and (out["run_dir"] / "results.png").read_bytes() == drawn[-1][1]
    with Image.open(out["results"]) as img:
        assert img.format == "PNG" and img.size == (1280, 480)  # 7 panels: D, D_real, D_fake, G, G_GAN, G_L1, lr
    assert '<img src="../results.png"' in (out["run_dir"] / "samples" / "index.html").read_text()
    assert not list(out["run_dir"].glob(".*"))

    monkeypatch.setattr(Trainer, "PLOT_EVERY_S", 3600.0)
    drawn.clear()
    api.resume(out["run_dir"], {"steps": 9}, progress=False)
    assert [rows for rows, _ in drawn] == [6]  # rows at steps 6 and 8 and 9 drawn once, at the end


def test_tensorboard_logger_writes_each_metrics_row_as_scalars(paired_dir, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = api.fit(tiny_paired_config(paired_dir, tmp_path / "runs", steps=3, logger="tensorboard"), progress=False)
    events = EventAccumulator(str(out["run_dir"] / "tensorboard"))
    events.Reload()
    assert {"D", "G", "G_L1", "G_GAN", "lr", "images_per_s", "epoch"} <= set(events.Tags()["scalars"])
    with open(out["run_dir"] / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    g_l1 = events.Scalars("G_L1")
    assert [e.step for e in g_l1] == [1, 2, 3]
    assert [e.value for e in g_l1] == pytest.approx([float(r["G_L1"]) for r in rows], rel=1e-5)


def test_tensorboard_logger_without_the_package_is_a_clear_error(paired_dir, tmp_path, monkeypatch):
    import sys

    from translate.errors import ArgumentError

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if tensorboard were not installed
    with pytest.raises(ArgumentError, match="logger tensorboard needs the tensorboard package") as err:
        api.fit(tiny_paired_config(paired_dir, tmp_path / "runs", logger="tensorboard"), progress=False)
    assert err.value.names == ("logger",) and not (tmp_path / "runs").exists()


def test_threads_sets_torchs_thread_count():
    from translate.config import Config, TrainConfig
    from translate.registry import create_model
    from translate.types import DataInfo

    before = torch.get_num_threads()
    wanted = 1 if before != 1 else 2
    try:
        model = create_model("pix2pix", DataInfo(size=32), {"ngf": 4, "ndf": 4})
        Trainer.for_step(Config(train=TrainConfig(threads=wanted)), model, torch.device("cpu"))
        assert torch.get_num_threads() == wanted
        Trainer.for_step(Config(), model, torch.device("cpu"))  # 0: left as it is
        assert torch.get_num_threads() == wanted
    finally:
        torch.set_num_threads(before)


def test_linear_epochs_policy_is_the_official_per_epoch_decay_to_one_over_decay_epochs_plus_one():
    """The official lambda_rule, stepped at the end of each epoch: with 3 + 4 epochs of 10 iterations, epoch E
    (1-based) runs at 1 - max(0, E - 3) / 5, the last at 1/5; pix2pix and CycleGAN use it by default."""
    class C:
        lr_policy = "linear_epochs"

    values = [lr_factor(C, it, total=70, decay_start=30, iters_per_epoch=10) for it in range(70)]
    official = [1.0 - max(0, e + 1 - 3) / 5 for e in range(7) for _ in range(10)]
    assert values == pytest.approx(official) and values[-1] == pytest.approx(1 / 5)
    from translate.registry import get_model_class

    assert all(get_model_class(m).defaults["train"]["lr_policy"] == "linear_epochs" for m in ("pix2pix", "cyclegan"))


def test_the_generator_average_weighs_each_update_by_decay_to_its_age():
    from translate.engine.ema import GeneratorEMA
    from translate.registry import create_model
    from translate.types import DataInfo

    def run(values, ema):
        for v in values:
            for p in model.netG.parameters():
                p.data.fill_(v)
            ema.update()

    model = create_model("gan", DataInfo(dim=2), {"hidden": 4})
    ema = GeneratorEMA(model, 0.9)
    run([1.0, 2.0, 4.0], ema)
    ages = [0.9**2, 0.9, 1.0]  # normalised over the updates so far: the first weights never dominate a short run
    expected = sum(a * v for a, v in zip(ages, [1.0, 2.0, 4.0])) / sum(ages)
    with ema.applied():
        assert all(torch.allclose(p, torch.full_like(p, expected)) for p in model.netG.parameters())
    assert all(torch.equal(p, torch.full_like(p, 4.0)) for p in model.netG.parameters())  # the live weights are back
    resumed = GeneratorEMA(model, 0.9)
    resumed.load_state_dict(ema.state_dict())
    run([8.0], ema)
    run([8.0], resumed)
    assert resumed.updates == ema.updates == 4
    assert all(torch.equal(a, b) for a, b in zip(ema.module.parameters(), resumed.module.parameters()))


def test_samples_and_scores_run_the_model_in_its_inference_mode(paired_dir, tmp_path):
    from translate.nn.layers import PerImageBatchNorm2d
    from translate.registry import create_model
    from translate.types import DataInfo

    cfg = tiny_paired_config(paired_dir, tmp_path / "runs", steps=1)
    trainer = Trainer.for_step(cfg, create_model("pix2pix", DataInfo(size=64), {"ngf": 4, "ndf": 4}), torch.device("cpu"))
    norms = lambda: {type(m) for m in trainer.model.netG.modules() if isinstance(m, torch.nn.BatchNorm2d)}  # noqa: E731
    dropout = lambda: [m.training for m in trainer.model.netG.modules() if isinstance(m, torch.nn.Dropout)]  # noqa: E731
    assert trainer.model.inference_mode == "paper"
    with trainer._inference():  # each image's own statistics and dropout, as the pix2pix paper tests
        assert norms() == {PerImageBatchNorm2d} and dropout() and all(dropout())
    assert norms() == {torch.nn.BatchNorm2d} and all(dropout()) and trainer.model.training


@pytest.mark.parametrize("precision, native, fp32_gemm, bf16_gemm", [("bf16", True, True, True), ("bf16", False, True, False),
                                                                    ("fp32", True, True, False)])
def test_bf16_steps_take_the_gemm_path_only_on_a_cpu_with_bf16_arithmetic(monkeypatch, precision, native, fp32_gemm, bf16_gemm):
    from translate.config import Config, TrainConfig
    from translate.nn.layers import Conv2d, ConvTranspose2d
    from translate.registry import create_model
    from translate.types import DataInfo

    monkeypatch.setattr("translate.engine.trainer.native_bf16", lambda: native)
    model = create_model("pix2pix", DataInfo(size=32), {"ngf": 4, "ndf": 4})
    Trainer.for_step(Config(model="pix2pix", train=TrainConfig(precision=precision, device="cpu")), model, torch.device("cpu"))
    convs = [m for m in model.modules() if isinstance(m, (Conv2d, ConvTranspose2d))]
    assert convs and all(m.cpu_gemm is fp32_gemm and m.cpu_gemm_bf16 is bf16_gemm for m in convs)


def test_resume_with_spectral_norm_feature_matching_and_hinge_equals_a_straight_run(paired_dir, tmp_path, monkeypatch):
    # pix2pix's defaults (spectral norm, feature matching, hinge) with D's own rate; spectral norm's power-iteration
    # vectors are buffers: the checkpoint must carry them for the resume to be exact
    cfg = tiny_paired_config(paired_dir, tmp_path / "runs", steps=6)
    cfg = dataclasses.replace(cfg, model_opts={**cfg.model_opts, "lr_d": 4e-4})
    straight = api.fit(cfg, progress=False)
    run_b = fit_killed_at(cfg, 4, monkeypatch)
    resumed = api.resume(run_b, progress=False)
    a, b = safe_load(straight["checkpoint"]), safe_load(resumed["checkpoint"])
    assert any(k.endswith("parametrizations.weight.0._u") for k in a["model"])
    assert _states_equal(a["model"], b["model"])
    opts = api.load_config(run_b).model_opts
    assert (opts.spectral_norm, opts.lambda_fm, opts.gan_mode, opts.lr_d) == (True, 10.0, "hinge", 4e-4)
