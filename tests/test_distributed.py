"""Training on several processes (torchrun): two processes on the CPU with gloo, started here with
torch.multiprocessing (and once through torchrun itself), as torchrun would start them."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from translate import api
from translate.config import Config, DataConfig, RunConfig, TrainConfig
from translate.data.datasets import ResumableBatchSampler
from translate.engine import distributed
from translate.engine.trainer import Trainer
from translate.errors import ArgumentWarning
from translate.registry import get_model_class, list_models

from conftest import tiny_opts

WORLD = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, port: int, job, args) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(WORLD), RANK=str(rank),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    # one process group for all the job's runs, as a notebook would hold it (fit and resume use a group
    # that is already there, and leave it)
    torch.distributed.init_process_group("gloo")
    try:
        job(rank, *args)
    finally:
        torch.distributed.destroy_process_group()


def _spawn(job, *args) -> None:
    """``job(rank, *args)`` on two processes, as torchrun starts them; a failure in either fails the test."""
    mp.spawn(_worker, args=(_free_port(), job, args), nprocs=WORLD, join=True)


def _exact_config(root, runs_dir, batch_size: int, steps: int = 4) -> Config:
    """pix2pix without batch norm, dropout or augmentation: a batch's gradient is the mean of its samples'."""
    return Config(model="pix2pix", model_opts={"ngf": 4, "ndf": 4, "norm": "none", "dropout": False},
                  data=DataConfig(root=str(root), preprocess="none", flip=False, load_size=32, crop_size=32),
                  train=TrainConfig(steps=steps, batch_size=batch_size, log_every=1, sample_every=100, checkpoint_every=2,
                                    num_samples=2, device="cpu", channels_last=False),
                  run=RunConfig(runs_dir=str(runs_dir), name="t"))


def _data_for(task: str, root: Path) -> tuple[str, Path]:
    from translate.data.synthetic import make_labelled, make_paired, make_unpaired

    if task == "paired":
        return "paired", make_paired(root / "paired", n=8, size=32)
    if task == "unpaired":
        return "unpaired", make_unpaired(root / "unpaired", n=8, size=32)
    if task == "labelled":
        return "labelled", make_labelled(root / "labelled", n=8, size=32)
    return "images", make_unpaired(root / "plain", n=8, size=32) / "trainA"


def _two_process_job(rank: int, pairs: Path, from_one: Path, root: Path) -> None:
    """What the tests below check, on one pair of processes (starting them is most of the cost): the exact
    run, a resume of a single-process run, and two iterations of every registered model."""
    result = api.fit(_exact_config(pairs, root / "two", batch_size=1), progress=False)
    torch.save({"step": result["step"], "run_dir": str(result["run_dir"]), "keys": sorted(result)}, root / f"rank{rank}.pt")
    assert api.resume(from_one, {"steps": 3}, progress=False)["step"] == 3
    _faults_on_rank_1(rank, pairs, root)
    for name in list_models():
        cls = get_model_class(name)
        layout, data = _data_for(cls.task, root / "data")
        fields = {f.name for f in dataclasses.fields(cls.Config)}
        opts = {**tiny_opts(name), **({"d_steps": 2} if "d_steps" in fields else {})}
        cfg = api.resolve_config({"model": name, "model_opts": opts,  # with d_steps 2: a critic-only iteration, then D and G
                                  "data": {"root": str(data), "layout": layout, "load_size": 32, "crop_size": 32},
                                  "train": {"steps": 2, "batch_size": 2, "log_every": 1, "device": "cpu", "sample_every": 100,
                                            "checkpoint_every": 100, "num_samples": 2},
                                  "run": {"runs_dir": str(root / "models" / name), "name": name}})
        assert api.fit(cfg, progress=False)["step"] == 2, name


def _faults_on_rank_1(rank: int, pairs: Path, root: Path) -> None:
    """A Ctrl-C seen by rank 1 only, then a non-finite loss on rank 1 only: both processes stop, and roll
    back, at the same iteration (a process that did not would wait for the other for ever)."""
    original = Trainer.train_step

    def ctrl_c(self, batch):
        if rank == 1 and self.step == 1:
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, batch)

    def nan_once(self, batch):
        losses = original(self, batch)
        if rank == 1 and self.step == 1 and not self.rollbacks:
            losses["D"] = losses["D"] * float("nan")
        return losses

    for name, patch in (("stop", ctrl_c), ("nan", nan_once)):
        Trainer.train_step = patch
        try:
            result = api.fit(_exact_config(pairs, root / name, batch_size=1, steps=3), progress=False)
        finally:
            Trainer.train_step = original
        torch.save({"step": result["step"], "stopped": result["stopped"]}, root / f"{name}{rank}.pt")


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    from translate.data.synthetic import make_paired

    root = tmp_path_factory.mktemp("ddp")
    pairs = make_paired(root / "pairs", n=8, size=32)
    from_one = api.fit(_exact_config(pairs, root / "one", batch_size=1, steps=2), progress=False)["run_dir"]
    _spawn(_two_process_job, pairs, from_one, root)
    return root, pairs, from_one


def _weights(run_dir: Path) -> dict:
    return torch.load(Path(run_dir) / "checkpoints" / "last.pt", weights_only=True)["model"]


def _metric_steps(run_dir: Path) -> list[str]:
    return [row.split(",")[0] for row in (Path(run_dir) / "metrics.csv").read_text().splitlines()[1:]]


def test_two_processes_equal_one_with_the_doubled_batch_and_only_rank_0_writes(two_processes, tmp_path):
    root, pairs, _ = two_processes
    (run,) = (root / "two").iterdir()  # one run folder, rank 0's
    ranks = [torch.load(root / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]
    assert [r["run_dir"] for r in ranks] == [str(run), str(run)]  # both agree on its name
    assert [r["step"] for r in ranks] == [4, 4]
    assert "weights" in ranks[0]["keys"] and "weights" not in ranks[1]["keys"]  # rank 1 wrote nothing
    assert "world size 2 (1 per process, 2 per step)" in (run / "log.txt").read_text()
    assert _metric_steps(run) == ["1", "2", "3", "4"]

    doubled = _weights(api.fit(_exact_config(pairs, tmp_path / "one", batch_size=2), progress=False)["run_dir"])
    single = _weights(api.fit(_exact_config(pairs, tmp_path / "alone", batch_size=1), progress=False)["run_dir"])
    two = _weights(run)
    assert two.keys() == doubled.keys()
    for k in two:  # Adam magnifies the float noise of near-zero gradients: 1e-6 seen, 1e-3 without averaging
        torch.testing.assert_close(two[k], doubled[k], rtol=1e-4, atol=1e-5, msg=k)
    # rank 0's shard alone trains other weights: the equality above needs both shards' gradients
    assert max((two[k] - single[k]).abs().max().item() for k in two) > 1e-4


def test_resume_across_world_sizes(two_processes, tmp_path):
    """A run of two processes resumes on one, and a run of one on two; the step counts optimizer steps."""
    root, _, from_one = two_processes
    log = (from_one / "log.txt").read_text()
    assert "world size" not in log.split("resuming")[0] and "world size 2" in log.split("resuming")[-1]
    assert _metric_steps(from_one) == ["1", "2", "3"]
    assert torch.load(from_one / "checkpoints" / "last.pt", weights_only=True)["step"] == 3

    (two,) = (root / "two").iterdir()
    from_two = shutil.copytree(two, tmp_path / "from_two")
    assert api.resume(from_two, {"steps": 5}, progress=False)["step"] == 5
    assert "world size" not in (from_two / "log.txt").read_text().split("resuming")[-1]
    assert _metric_steps(from_two) == ["1", "2", "3", "4", "5"]


def test_a_stop_or_a_fault_on_one_process_is_taken_by_all(two_processes):
    root = two_processes[0]
    stops = [torch.load(root / f"stop{r}.pt", weights_only=True) for r in range(WORLD)]
    assert stops == [{"step": 2, "stopped": True}] * WORLD  # Ctrl-C during iteration 2 of rank 1: both stop after it
    (stopped,) = (root / "stop").iterdir()
    assert torch.load(stopped / "checkpoints" / "last.pt", weights_only=True)["step"] == 2
    faults = [torch.load(root / f"nan{r}.pt", weights_only=True) for r in range(WORLD)]
    assert faults == [{"step": 3, "stopped": False}] * WORLD
    (rolled,) = (root / "nan").iterdir()
    assert "loss D is not finite at step 2; rolled back to step 0" in (rolled / "log.txt").read_text()


def test_every_model_trains_on_two_processes_without_deadlock(two_processes):
    root = two_processes[0]
    for name in list_models():
        (run,) = (root / "models" / name).iterdir()
        assert (run / "generator.pt").is_file() and (run / "checkpoints" / "last.pt").is_file(), name
        assert "world size 2" in (run / "log.txt").read_text(), name
        assert _metric_steps(run) == ["1", "2"], name


def test_torchrun_trains_with_one_run_folder_and_one_report(two_processes, tmp_path):
    pairs = two_processes[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "translate", "fit",
           "--paired", str(pairs), "--steps", "2", "--batch-size", "1", "--load-size", "32", "--crop-size", "32",
           "--device", "cpu", "--runs-dir", str(tmp_path / "runs"), "--name", "ddp", "--opt", "ngf=4", "--opt", "ndf=4",
           "--threads", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["ddp"]
    assert done.stdout.count("done: step 2/2") == 1 and done.stdout.count("config: pix2pix's defaults, except these") == 1, done.stdout
    assert "world size 2" in (tmp_path / "runs" / "ddp" / "log.txt").read_text()


# -- without processes ------------------------------------------------------------------------------
def test_shards_of_the_processes_make_the_single_process_batch():
    one = ResumableBatchSampler(10, 4, seed=3)
    shards = [ResumableBatchSampler(10, 2, seed=3, rank=r, world_size=2) for r in range(2)]
    assert shards[0].iters_per_epoch == one.iters_per_epoch == 2
    batches = [iter(s) for s in shards]
    for want in (b for _, b in zip(range(5), iter(one))):
        assert next(batches[0]) + next(batches[1]) == want
    resumed = [iter(ResumableBatchSampler(10, 2, seed=3, start=3, rank=r, world_size=2)) for r in range(2)]
    assert next(resumed[0]) + next(resumed[1]) == list(iter(ResumableBatchSampler(10, 4, seed=3, start=3)).__next__())


def test_too_small_a_dataset_for_the_global_batch_names_the_batch_size():
    with pytest.raises(Exception, match=r"has 5 samples but batch_size is 3 times 2 processes"):
        ResumableBatchSampler(5, 3, seed=0, rank=1, world_size=2)


def test_torchrun_environment_and_device_per_process():
    assert distributed.from_environment({}) == (1, 0, 0)
    assert distributed.from_environment({"WORLD_SIZE": "1", "RANK": "0"}) == (1, 0, 0)
    assert distributed.from_environment({"WORLD_SIZE": "8", "RANK": "5", "LOCAL_RANK": "1"}) == (8, 5, 1)
    assert distributed.process_device(torch.device("cuda"), 3) == torch.device("cuda", 3)
    assert distributed.process_device(torch.device("cpu"), 3) == torch.device("cpu")
    single = distributed.Distributed()
    assert not single.active and single.writer and single.from_rank0(lambda: 7) == 7


def test_batch_norm_with_one_image_per_process_warns_naming_the_arguments():
    bn = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1), torch.nn.BatchNorm2d(3))
    plain = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1), torch.nn.InstanceNorm2d(3))
    assert distributed.batch_norm_warning(bn, 1, 1, "cuda") is None  # one process
    assert distributed.batch_norm_warning(bn, 2, 4, "cuda") is None  # two images per process
    assert distributed.batch_norm_warning(plain, 1, 4, "cuda") is None  # no batch norm
    note = distributed.batch_norm_warning(bn, 1, 4, "cuda")
    assert isinstance(note, ArgumentWarning)
    assert note.render() == ("batch norm with batch_size 1 per process on 4 processes: SyncBatchNorm takes its statistics "
                             "over the 4 images of a step, one per process; use batch_size 2 or more, or norm instance")
    assert "each process normalises its one image by itself" in distributed.batch_norm_warning(bn, 1, 2, "cpu").render()


def test_sync_batch_norm_only_on_cuda_with_several_processes():
    model = torch.nn.Module()
    model.netD = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1), torch.nn.BatchNorm2d(3))
    distributed.sync_batch_norm(model, ("netD",), distributed.Distributed(world_size=2, device=torch.device("cpu")))
    distributed.sync_batch_norm(model, ("netD",), distributed.Distributed(device=torch.device("cuda")))
    assert type(model.netD[1]) is torch.nn.BatchNorm2d
    weight = model.netD[1].weight
    distributed.sync_batch_norm(model, ("netD",), distributed.Distributed(world_size=2, device=torch.device("cuda")))
    assert type(model.netD[1]) is torch.nn.SyncBatchNorm and model.netD[1].weight is weight
    assert list(model.state_dict()) == ["netD.0.weight", "netD.0.bias", "netD.1.weight", "netD.1.bias",
                                        "netD.1.running_mean", "netD.1.running_var", "netD.1.num_batches_tracked"]


def test_gradients_are_averaged_in_buckets_of_one_dtype(monkeypatch):
    grads = [torch.zeros(3), torch.zeros(5), torch.zeros(2, dtype=torch.float64), torch.zeros(4)]
    monkeypatch.setattr(distributed, "BUCKET", 6)
    assert list(distributed._buckets(grads)) == [(0, 1), (1, 2), (2, 3), (3, 4)]
    monkeypatch.setattr(distributed, "BUCKET", 8)
    assert list(distributed._buckets(grads)) == [(0, 2), (2, 3), (3, 4)]
