"""Generator files of the official pix2pix/CycleGAN code: key names, the buffers of old files, convert and
init-from with a .pth, the closest-architecture message, and the eval/paper inference modes."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from PIL import Image

from translate import api
from translate.cli import app
from translate.data.image_files import to_uint8
from translate.data.synthetic import make_paired
from translate.nn import official
from translate.nn.layers import set_mode
from translate.nn.resnet import ResnetGenerator
from translate.nn.unet import UnetGenerator

NGF = 4


def official_unet_shapes(depth: int, ngf: int, in_nc: int = 3, out_nc: int = 3) -> dict[str, tuple]:
    """The tensors of the official UnetGenerator (batch norm), written out from its nesting by hand:
    outermost [downconv, sub, relu, upconv, tanh]; middle [relu, downconv, norm, sub, relu, upconv, norm, (dropout)];
    innermost [relu, downconv, relu, upconv, norm]. No num_batches_tracked: an old file."""
    widths = [(ngf, ngf * 2), (ngf * 2, ngf * 4), (ngf * 4, ngf * 8)] + [(ngf * 8, ngf * 8)] * (depth - 4)
    out = {"model.model.0.weight": (ngf, in_nc, 4, 4), "model.model.3.weight": (ngf * 2, out_nc, 4, 4),
           "model.model.3.bias": (out_nc,)}
    prefix = "model.model.1."
    for i, (outer, inner) in enumerate(widths):
        last = i == len(widths) - 1
        out[prefix + "model.1.weight"] = (inner, outer, 4, 4)
        up = "model.3." if last else "model.5."
        out[prefix + up + "weight"] = (inner if last else inner * 2, outer, 4, 4)
        norms = {"model.4.": outer} if last else {"model.2.": inner, "model.6.": outer}
        for name, c in norms.items():
            for t in ("weight", "bias", "running_mean", "running_var"):
                out[prefix + name + t] = (c,)
        prefix += "model.3."
    return out


def old_file(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    """``net``'s weights as an old official file: official names, no batch-norm counters."""
    return {k: v for k, v in official.to_official(net.state_dict()).items() if not k.endswith("num_batches_tracked")}


def trained_unet(depth: int = 7, seed: int = 0) -> UnetGenerator:
    """A narrow U-Net with non-trivial weights and running statistics."""
    torch.manual_seed(seed)
    net = UnetGenerator(3, 3, depth, NGF, "batch")
    for p in net.parameters():
        p.data.normal_(0, 0.3)
    with torch.no_grad():
        for _ in range(3):
            net(torch.randn(2, 3, 2**depth, 2**depth))
    return net.eval()


def test_keys_are_the_official_ones_and_map_both_ways():
    unet = UnetGenerator(3, 3, 7, NGF, "batch")
    names = official.to_official(unet.state_dict())
    assert {k: tuple(v.shape) for k, v in names.items() if not k.endswith("num_batches_tracked")} == official_unet_shapes(7, NGF)
    assert "model.model.1.model.3.model.3.model.3.model.1.weight" in names
    resnet = ResnetGenerator(3, 3, NGF, 6, "instance")
    names = official.to_official(resnet.state_dict())
    assert "model.10.conv_block.1.weight" in names and "model.10.conv_block.5.bias" in names
    assert not any("running" in k for k in names)  # instance norm without affine: nothing in the file
    for net in (unet, resnet):
        back = official.from_official(official.to_official(net.state_dict()))
        state = net.state_dict()
        assert list(back) == list(state) and all(torch.equal(back[k], v) for k, v in state.items())
    assert official.is_official(names) and not official.is_official({"state": {}, "model": "pix2pix"})


def test_a_hand_built_old_file_loads_with_the_counters_patched(tmp_path):
    shapes = official_unet_shapes(7, NGF)
    torch.manual_seed(1)
    file = {k: torch.rand(s) + 0.5 for k, s in shapes.items()}  # variances > 0
    torch.save(file, tmp_path / "latest_net_G.pth")
    model, cfg = api.load_run(tmp_path / "latest_net_G.pth", model="pix2pix", net_g="unet_128", ngf=NGF, norm="batch")
    ours = official.to_official(model.netG.state_dict())
    assert all(torch.equal(ours[k], v) for k, v in file.items())
    assert ours["model.model.1.model.2.num_batches_tracked"] == 0 and not model.netG.training
    assert (cfg.model, cfg.model_opts.net_g, cfg.data.direction) == ("pix2pix", "unet_128", "AtoB")
    # a newer file (with counters) and an old instance-norm file (with buffers instance norm has not) load too
    torch.save(official.to_official(trained_unet().state_dict()), tmp_path / "new.pth")
    api.load_run(tmp_path / "new.pth", net_g="unet_128", ngf=NGF)
    resnet = ResnetGenerator(3, 3, NGF, 6, "instance")
    extra = {"model.2.running_mean": torch.zeros(NGF), "model.2.running_var": torch.ones(NGF),
             "model.2.num_batches_tracked": torch.tensor(0)}
    torch.save({**official.to_official(resnet.state_dict()), **extra}, tmp_path / "latest_net_G_B.pth")
    model, cfg = api.load_run(tmp_path / "latest_net_G_B.pth", model="cyclegan", net_g="resnet_6blocks", ngf=NGF)
    assert model.directions == ("BtoA",) and cfg.data.direction == "BtoA"
    assert all(torch.equal(model.netG_BA.state_dict()[k], v) for k, v in resnet.state_dict().items())


def test_convert_takes_a_pth_and_matches_the_network_in_eval_mode(runner, tmp_path):
    net = trained_unet()
    torch.save(old_file(net), tmp_path / "latest_net_G.pth")
    image = np.random.default_rng(0).integers(0, 256, (24, 40, 3), dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "x.png")
    result = runner.invoke(app, ["convert", str(tmp_path / "latest_net_G.pth"), str(tmp_path / "x.png"), str(tmp_path / "out"),
                                 "--model", "pix2pix", "--netG", "unet_128", "--ngf", str(NGF), "--norm", "batch",
                                 "--mode", "eval", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    with torch.no_grad():
        expected = to_uint8(net(torch.from_numpy(image).permute(2, 0, 1)[None].float() / 127.5 - 1)[0])
    got = np.asarray(Image.open(tmp_path / "out" / "x.png"))
    assert np.abs(got.astype(int) - expected).max() <= 1


def _convert_error(runner, tmp_path, file, *flags):
    result = runner.invoke(app, ["convert", str(file), str(tmp_path / "x.png"), str(tmp_path / "out"), *flags])
    assert result.exit_code == 2, result.output
    return [ln for ln in result.output.splitlines() if ln.startswith("error: ")]


def test_a_file_of_another_architecture_names_the_closest(runner, tmp_path):
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "x.png")
    path = tmp_path / "latest_net_G.pth"
    torch.save(old_file(UnetGenerator(3, 3, 7, NGF, "batch")), path)
    assert _convert_error(runner, tmp_path, path, "--netG", "unet_256", "--ngf", str(NGF)) == [
        f"error: {path}: a generator file of the official code; it does not fit --netG=unet_256 --ngf={NGF} --norm=batch; "
        f"closest: unet_128, ngf {NGF}, batch norm (59 of 59 tensors agree): pass --netG=unet_128 --ngf={NGF} --norm=batch"]
    torch.save(official.to_official(ResnetGenerator(1, 3, NGF, 9, "instance").state_dict()), path)
    assert _convert_error(runner, tmp_path, path) == [
        f"error: {path}: a generator file of the official code; name its architecture; closest: resnet_9blocks, ngf {NGF}, "
        f"instance norm (48 of 48 tensors agree): pass --netG=resnet_9blocks --ngf={NGF} --norm=instance --input-nc=1"]
    torch.save({"state": {}}, path)
    assert "not a generator file of the official pix2pix/CycleGAN code" in _convert_error(runner, tmp_path, path)[0]
    assert _convert_error(runner, tmp_path, tmp_path, "--netG", "unet_128") == [
        f"error: {tmp_path}: a run folder carries its own model and sizes; leave out --netG (options of a generator file "
        f"of the official code, latest_net_G.pth)"]


@pytest.fixture(scope="module")
def official_run(tmp_path_factory):
    """A pix2pix run fine-tuned for 2 steps from an official generator file (fit --init-from FILE.pth)."""
    from typer.testing import CliRunner

    tmp = tmp_path_factory.mktemp("official")
    data = make_paired(tmp / "paired", n=4, size=32)
    torch.save(old_file(trained_unet()), tmp / "latest_net_G.pth")
    result = CliRunner().invoke(app, ["fit", "--paired", str(data), "--runs-dir", str(tmp / "runs"), "--name", "p", "--steps", "2",
                                      "--image-size", "32", "--netG", "unet_128", "--ngf", str(NGF), "--ndf", "4",
                                      "--init-from", str(tmp / "latest_net_G.pth")])
    assert result.exit_code == 0, result.output
    assert "initialised netG from" in result.output
    return tmp, tmp / "runs" / "p", data


def test_init_from_an_official_file(official_run, tmp_path):
    tmp, run, _ = official_run
    model, _ = api.load_run(run)
    api.init_from(model, tmp / "latest_net_G.pth")
    loaded = official.to_official(model.netG.state_dict())
    assert all(torch.equal(loaded[k], v) for k, v in old_file(trained_unet()).items())


def test_paper_mode_differs_from_eval_and_repeats_with_a_seed(official_run, runner):
    tmp, run, data = official_run

    def convert(out, *flags):
        result = runner.invoke(app, ["convert", str(run), str(data), str(tmp / out), "--ab", "left", "--device", "cpu", *flags])
        assert result.exit_code == 0, result.output
        return np.stack([np.asarray(Image.open(p)) for p in sorted((tmp / out).rglob("*.png"))]).astype(int)

    ev, paper, again, other = convert("eval", "--mode", "eval"), convert("p1", "--mode", "paper"), convert("p2"), \
        convert("p3", "--mode", "paper", "--seed", "1")
    assert np.abs(ev - paper).max() > 10
    assert np.array_equal(paper, again) and not np.array_equal(paper, other)  # paper is pix2pix's default, seed 0
    result = runner.invoke(app, ["evaluate", str(run), str(data), "--mode", "paper", "--device", "cpu"])
    assert result.exit_code == 0 and "psnr" in result.output, result.output
    result = runner.invoke(app, ["convert", str(run), str(data), str(tmp / "p4"), "--mode", "train"])
    assert "error: --mode must be eval or paper, not 'train'" in result.output


def test_paper_mode_normalises_each_image_of_a_batch_on_its_own():
    net = trained_unet(depth=6)
    for m in net.modules():  # dropout off, to see the statistics alone
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    x = torch.randn(3, 3, 40, 24)
    with torch.no_grad():
        train_mode = copy.deepcopy(net).train()(x[:1])  # batch norm in training mode at batch 1: the paper's test
        batched = set_mode(net, "paper")(x)
        alone = torch.cat([net(x[i : i + 1]) for i in range(3)])
        assert torch.allclose(batched, alone, atol=1e-5) and torch.allclose(batched[:1], train_mode, atol=1e-5)
        assert not torch.allclose(batched, set_mode(net, "eval")(x), atol=1e-2)
    assert type(next(m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))) is torch.nn.BatchNorm2d
