"""The official pretrained generators by name (translate/pretrained.py) against a loopback mirror serving
narrow generator files in the official format: convert by name, the cache, resuming, refusing bad files, the
offline message, serve on a name and the two demos. No test reaches the internet."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import socket
import urllib.request

import numpy as np
import pytest
import torch
from conftest import one_line_error
from PIL import Image
from test_official import official_unet_shapes

import translate
from translate import pretrained
from translate.cli import app
from translate.data.synthetic import make_unpaired
from translate.nn import official

NGF = 4
TINY = {  # narrow stand-ins, added to the table by the fixture
    "tiny_h2z": pretrained.Entry("tiny_h2z", "cyclegan", "horse -> zebra", "test", net_g="resnet_6blocks", ngf=NGF, size=32,
                                 reverse="tiny_z2h"),
    "tiny_z2h": pretrained.Entry("tiny_z2h", "cyclegan", "zebra -> horse", "test", net_g="resnet_6blocks", ngf=NGF, size=32,
                                 reverse="tiny_h2z"),
    "tiny_p2p": pretrained.Entry("tiny_p2p", "pix2pix", "edges -> shoe", "test", net_g="unet_128", ngf=NGF, size=32),
}


def official_file(e: pretrained.Entry, seed: int = 0, ngf: int | None = None) -> bytes:
    """A generator file of ``e``'s architecture as the official code saves it (``ngf`` to make a wrong one)."""
    torch.manual_seed(seed)
    net = official.build(e.net_g, 3, 3, ngf or e.ngf, e.norm, e.dropout)
    for p in net.parameters():
        p.data.normal_(0, 0.3)
    buf = io.BytesIO()
    torch.save(official.to_official(net.state_dict()), buf)
    return buf.getvalue()


@pytest.fixture
def mirror(tmp_path, monkeypatch, file_server):
    """A loopback server as TRANSLATE_PRETRAINED_MIRROR holding the tiny entries' files; TRANSLATE_HOME in tmp_path."""
    httpd = file_server
    for i, e in enumerate(TINY.values()):
        monkeypatch.setitem(pretrained.TABLE, e.name, e)
        httpd.files[f"/{e.path}"] = official_file(e, seed=i)
    monkeypatch.setenv(pretrained.MIRROR_ENV, f"http://127.0.0.1:{httpd.server_address[1]}/")
    monkeypatch.setenv(pretrained.HOME_ENV, str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return httpd


def _image(path, size=(40, 24), seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def test_convert_by_name_downloads_once_into_translate_home(mirror, runner, tmp_path):
    _image(tmp_path / "in" / "x.png")
    result = runner.invoke(app, ["convert", "tiny_h2z", "in", "out", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "pretrained tiny_h2z: horse -> zebra" in result.output and "converted 1 image in" in result.output
    cached = tmp_path / "home" / "pretrained" / "tiny_h2z.pth"
    body = mirror.files["/cyclegan/pretrained_models/tiny_h2z.pth"]
    assert cached.read_bytes() == body and sorted(p.name for p in cached.parent.iterdir()) == ["tiny_h2z.pth", "tiny_h2z.pth.sha256"]
    sha = hashlib.sha256(body).hexdigest()
    assert pretrained.sha256_of("tiny_h2z") == sha
    # the output is the generator's (instance norm, no dropout: eval and paper agree)
    net = official.build("resnet_6blocks", 3, 3, NGF, "instance", False)
    official.load(net, torch.load(cached, weights_only=True), cached, TINY["tiny_h2z"].options())
    x = np.array(Image.open(tmp_path / "in" / "x.png"))
    with torch.no_grad():
        expected = net(torch.from_numpy(x).permute(2, 0, 1)[None].float() / 127.5 - 1)[0]
    expected = ((expected.clamp(-1, 1) + 1) * 127.5).round().permute(1, 2, 0).numpy()
    assert np.abs(np.asarray(Image.open(tmp_path / "out" / "x.png")).astype(int) - expected).max() <= 1
    asked = len(mirror.seen)
    assert runner.invoke(app, ["convert", "tiny_h2z", "in", "out2", "--device", "cpu"]).exit_code == 0
    run = translate.load_run("tiny_h2z")
    assert run.model.directions == ("AtoB",) and run.cfg.data.crop_size == 32
    described = runner.invoke(app, ["pretrained", "tiny_h2z"])
    assert described.exit_code == 0 and f"sha256:       {sha}" in described.output and "mode:         eval" in described.output
    assert len(mirror.seen) == asked, "a cached generator must not be asked for again"
    listing = runner.invoke(app, ["pretrained"], env={"COLUMNS": "250"})
    assert listing.exit_code == 0 and "tiny_h2z" in listing.output and "horse2zebra" in listing.output
    assert "pix2pix_facades_label2photo" in listing.output and str(tmp_path / "home" / "pretrained") in listing.output
    # a folder of that name in the current directory wins
    (tmp_path / "tiny_h2z").mkdir()
    assert "tiny_h2z: not a run folder" in one_line_error(runner.invoke(app, ["convert", "tiny_h2z", "in", "out3"]))


def test_an_interrupted_download_resumes_from_the_part_file(mirror, runner, tmp_path):
    body = mirror.files["/pix2pix/models-pytorch/tiny_p2p.pth"]
    mirror.cut = True  # the first transfer stops half way; the same call resumes it
    assert runner.invoke(app, ["pretrained", "tiny_p2p"]).exit_code == 0
    assert [r for _, r in mirror.seen] == [None, f"bytes={len(body) // 2}-"]
    home = tmp_path / "home" / "pretrained"
    assert (home / "tiny_p2p.pth").read_bytes() == body and not (home / "tiny_p2p.pth.part").exists()
    # a .part left by a process that was stopped is continued
    (home / "tiny_h2z.pth.part").write_bytes(mirror.files["/cyclegan/pretrained_models/tiny_h2z.pth"][:1000])
    result = runner.invoke(app, ["pretrained", "tiny_h2z"])
    assert result.exit_code == 0 and "resuming tiny_h2z.pth.part at byte 1000" in result.output, result.output
    assert mirror.seen[-1] == ("/cyclegan/pretrained_models/tiny_h2z.pth", "bytes=1000-")
    assert pretrained.sha256_of("tiny_h2z") == hashlib.sha256(mirror.files["/cyclegan/pretrained_models/tiny_h2z.pth"]).hexdigest()
    described = runner.invoke(app, ["pretrained", "tiny_p2p"]).output
    assert "mode:         paper by default" in described


@pytest.mark.parametrize("damage", ["truncated", "wrong architecture"])
def test_a_file_that_is_not_the_generator_is_refused_and_removed(mirror, runner, tmp_path, damage):
    key = "/cyclegan/pretrained_models/tiny_h2z.pth"
    body = mirror.files[key]
    mirror.files[key] = body[: len(body) // 2] if damage == "truncated" else official_file(TINY["tiny_h2z"], ngf=8)
    _image(tmp_path / "in" / "x.png")
    line = one_line_error(runner.invoke(app, ["convert", "tiny_h2z", "in", "out"]), code=1)
    assert line.startswith("error: http://127.0.0.1:") and "not the cyclegan generator tiny_h2z (resnet_6blocks, ngf 4" in line
    assert "the file was removed" in line
    assert list((tmp_path / "home" / "pretrained").iterdir()) == [] and not (tmp_path / "out").exists()


def test_no_server_is_one_line_and_exit_1(mirror, runner, tmp_path, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    monkeypatch.setenv(pretrained.MIRROR_ENV, f"http://127.0.0.1:{port}")
    _image(tmp_path / "in" / "x.png")
    result = runner.invoke(app, ["convert", "tiny_h2z", "in", "out"])
    cache = tmp_path / "home" / "pretrained"
    assert result.output.count("\n") == 1, result.output
    assert one_line_error(result, code=1) == (
        f"error: cannot download http://127.0.0.1:{port}/cyclegan/pretrained_models/tiny_h2z.pth ([Errno 111] Connection refused); "
        f"download it by hand to {cache / 'tiny_h2z.pth'}, or set TRANSLATE_PRETRAINED_MIRROR to a server holding "
        f"cyclegan/pretrained_models/tiny_h2z.pth")
    assert list(cache.iterdir()) == []


def _official_resnet_shapes(blocks: int, ngf: int, nc: int = 3) -> dict[str, tuple]:
    """The tensors of the official ResnetGenerator (instance norm: conv biases, no norm tensors), written out by
    hand: pad, conv 7, norm, relu; two down (conv, norm, relu); blocks (pad, conv, norm, relu, pad, conv, norm);
    two up (transposed conv, norm, relu); pad, conv 7, tanh."""
    out = {"model.1.weight": (ngf, nc, 7, 7), "model.1.bias": (ngf,),
           "model.4.weight": (ngf * 2, ngf, 3, 3), "model.4.bias": (ngf * 2,),
           "model.7.weight": (ngf * 4, ngf * 2, 3, 3), "model.7.bias": (ngf * 4,)}
    for b in range(blocks):
        for conv in (1, 5):
            out[f"model.{10 + b}.conv_block.{conv}.weight"] = (ngf * 4, ngf * 4, 3, 3)
            out[f"model.{10 + b}.conv_block.{conv}.bias"] = (ngf * 4,)
    up = 10 + blocks
    out.update({f"model.{up}.weight": (ngf * 4, ngf * 2, 3, 3), f"model.{up}.bias": (ngf * 2,),
                f"model.{up + 3}.weight": (ngf * 2, ngf, 3, 3), f"model.{up + 3}.bias": (ngf,),
                f"model.{up + 7}.weight": (nc, ngf, 7, 7), f"model.{up + 7}.bias": (nc,)})
    return out


def test_every_published_generator_builds_with_the_official_tensor_names_and_shapes():
    real = [e for e in pretrained.TABLE.values() if e.name not in TINY]
    assert sum(e.model == "cyclegan" for e in real) == 18 and sum(e.model == "pix2pix" for e in real) == 5
    unet, resnet = official_unet_shapes(8, 64), _official_resnet_shapes(9, 64)
    for e in real:
        shapes = {k: s for k, s in e.shapes().items() if not k.endswith("num_batches_tracked")}
        assert shapes == (resnet if e.model == "cyclegan" else unet), e.name
        with torch.device("meta"):  # what the check of a download accepts: exactly these tensors
            state = {k: torch.empty(s) for k, s in shapes.items()}
        official.check(state, e.name, e.options(), e.dropout)
        assert e.url == f"http://efrosgans.eecs.berkeley.edu/{e.model}/{'pretrained_models' if e.model == 'cyclegan' else 'models-pytorch'}/{e.remote}.pth"
        assert (e.mode, e.size) == ("eval" if e.model == "cyclegan" else "paper", 256)
        assert not e.reverse or pretrained.TABLE[e.reverse].reverse == e.name
    assert round(pretrained.TABLE["horse2zebra"].download_bytes() / 1e6, 1) == 45.5  # the file is 45.5 MB
    with pytest.raises(Exception):
        official.check({**state, "model.model.0.weight": torch.empty(1)}, "x", real[-1].options(), True)


def test_serve_a_name_answers_on_loopback_with_both_directions(mirror):
    pytest.importorskip("gradio")
    from translate.serve import serve

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    said = []
    page = serve("tiny_h2z", port=port, device="cpu", block=False, announce=said.append)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
            assert r.status == 200 and "translate: tiny_h2z" in r.read().decode()
        assert said[0].startswith(f"serving tiny_h2z (cyclegan, unpaired) at http://127.0.0.1:{port}/")
        assert {p for p, _ in mirror.seen} == {"/cyclegan/pretrained_models/tiny_h2z.pth", "/cyclegan/pretrained_models/tiny_z2h.pth"}
        direction = next(b for b in page.blocks.values() if getattr(b, "elem_id", None) == "direction")
        assert direction.visible is True and [c[0] for c in direction.choices] == ["AtoB", "BtoA"]
    finally:
        page.close()


def _as(name: str) -> pretrained.Entry:
    return dataclasses.replace(TINY["tiny_h2z" if name == "horse2zebra" else "tiny_p2p"], name=name, remote="", reverse="")


def test_the_demos_with_pretrained_generators_on_the_mirror(mirror, runner, tmp_path, monkeypatch):
    for name in ("horse2zebra", "edges2shoes"):  # the demos' generators, narrow
        e = _as(name)
        monkeypatch.setitem(pretrained.TABLE, name, e)
        mirror.files[f"/{e.path}"] = official_file(e)
    # neither data nor cached weights: how to get either
    line = one_line_error(runner.invoke(app, ["demo", "horse2zebra"]))
    assert "python datasets/download.py horse2zebra" in line and "--data" in line and "--pretrained" in line
    assert not mirror.seen
    for i in range(3):
        _image(tmp_path / "photos" / f"p{i}.jpg", (48, 40), seed=i)
    result = runner.invoke(app, ["demo", "horse2zebra", "--pretrained", "--photos", "photos", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "AtoB: converted 3 images of photos with the pretrained horse2zebra generator" in result.output
    gallery = tmp_path / "runs" / "horse2zebra-pretrained" / "gallery"
    assert "gallery: runs/horse2zebra-pretrained/gallery/gallery.png and runs/horse2zebra-pretrained/gallery/index.html" in result.output
    assert np.asarray(Image.open(gallery / "gallery.png")).shape[0] == 3 * 32 + 2 * 4
    assert 'src="gallery.png"' in (gallery / "index.html").read_text()
    # cached now: no flag needed without data; sketch2photo draws its own sketch
    make_unpaired(tmp_path / "h2z", n=2, size=32)
    result = runner.invoke(app, ["demo", "horse2zebra", "--data", "h2z", "--pretrained", "--device", "cpu"])
    assert result.exit_code == 0 and "converted 2 images of h2z/testA" in result.output, result.output
    result = runner.invoke(app, ["demo", "sketch2photo", "--pretrained", "--device", "cpu"])
    assert result.exit_code == 0 and "converted 1 sketches" in result.output, result.output
    result = runner.invoke(app, ["demo", "sketch2photo", "--photos", "photos", "--pretrained", "--device", "cpu"])
    assert result.exit_code == 0 and "converted 4 sketches" in result.output, result.output
    grid = np.asarray(Image.open(tmp_path / "runs" / "sketch2photo-pretrained" / "gallery" / "gallery.png"))
    assert grid.shape[:2] == (4 * 32 + 3 * 4, 3 * 32 + 2 * 4)  # a hand-drawn sketch and 3 photos: sketch | generated | photo


def test_the_demos_train_on_tiny_data_without_pretrained(runner, tmp_path, monkeypatch):
    monkeypatch.setenv(pretrained.HOME_ENV, str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    make_unpaired(tmp_path / "h2z", n=2, size=32)
    result = runner.invoke(app, ["demo", "horse2zebra", "--data", "h2z", "--steps", "2", "--size", "32", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "done: step 2/2 in runs/horse2zebra" in result.output and "BtoA: converted 2 images" in result.output
    assert (tmp_path / "runs" / "horse2zebra" / "gallery" / "gallery.png").is_file()
    for i in range(3):
        img = np.full((40, 40, 3), 255, np.uint8)
        img[10:30, 8 + i : 32] = (60, 40, 30)
        Image.fromarray(img).save(_image(tmp_path / "shoes" / f"s{i}.png"))
    result = runner.invoke(app, ["demo", "sketch2photo", "--photos", "shoes", "--steps", "2", "--size", "32", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    pairs = sorted(p.relative_to(tmp_path / "runs" / "sketch2photo-pairs").as_posix()
                   for p in (tmp_path / "runs" / "sketch2photo-pairs").rglob("*.png"))
    assert pairs == ["train/s0.png", "train/s1.png", "val/s2.png"]
    assert "gallery: runs/sketch2photo/gallery/gallery.png" in result.output
    assert not (tmp_path / "home").exists(), "training needs no download"


def test_export_and_evaluate_take_a_name(mirror, runner, tmp_path):
    pytest.importorskip("onnx")
    result = runner.invoke(app, ["export", "tiny_h2z", "--out", "g.onnx", "--size", "32"])
    assert result.exit_code == 0 and "wrote g.onnx" in result.output, result.output
    make_unpaired(tmp_path / "h2z", n=2, size=32)
    result = runner.invoke(app, ["evaluate", "tiny_h2z", "h2z", "--no-fid"])
    assert result.exit_code == 2 and "an unpaired run is scored by FID/KID only" in result.output, result.output
    assert {p for p, _ in mirror.seen} == {"/cyclegan/pretrained_models/tiny_h2z.pth", "/cyclegan/pretrained_models/tiny_z2h.pth"}
