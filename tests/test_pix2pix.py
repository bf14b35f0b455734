from __future__ import annotations

import pytest
import torch
from torch import nn

from translate.types import DataInfo
from translate.nn.layers import count_parameters
from translate.models.pix2pix import Pix2Pix
from translate.registry import create_model


def _dropouts(net):
    return sum(isinstance(m, nn.Dropout) for m in net.modules())


def test_parameter_counts_match_the_official_code():
    model = create_model("pix2pix", DataInfo(size=256), Pix2Pix.paper_settings["model_opts"])
    assert count_parameters(model.netG) == 54_413_955  # unet_256, ngf 64
    assert count_parameters(model.netD) == 2_768_705  # the 70x70 PatchGAN on 6 channels (input and output)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.netD.modules()) == 3
    assert (model.cfg.gan_mode, model.cfg.lambda_fm) == ("vanilla", 0.0)


def test_the_default_discriminator_is_spectrally_normalised_without_batch_norm():
    model = create_model("pix2pix", DataInfo(size=256))
    assert count_parameters(model.netG) == 54_413_955  # the generator is the paper's
    # the paper's 2,768,705 less batch norm's scales and offsets (2 x (128 + 256 + 512)) plus the biases of the
    # three convolutions it followed (128 + 256 + 512); spectral norm's vectors are buffers, not parameters
    assert count_parameters(model.netD) == 2_768_705 - 1_792 + 896 == 2_767_809
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.netD.modules())
    assert (model.cfg.gan_mode, model.cfg.lambda_fm, model.cfg.spectral_norm) == ("hinge", 10.0, True)


@pytest.mark.parametrize("net_g, depth, dropouts", [("unet_256", 8, 3), ("unet_128", 7, 2), ("unet_32", 5, 0)])
def test_unet_depth_and_dropout_placement(net_g, depth, dropouts):
    model = create_model("pix2pix", DataInfo(size=256), {"net_g": net_g, "ngf": 4, "ndf": 4})
    assert model.netG.depth == depth and _dropouts(model.netG) == dropouts


def test_unet_bottleneck_has_no_norm_so_batch_size_one_trains():
    model = create_model("pix2pix", DataInfo(size=32), {"ngf": 4, "ndf": 4}).train()
    out = model.netG(torch.randn(1, 3, 32, 32))
    assert out.shape == (1, 3, 32, 32) and torch.isfinite(out).all()


def test_patchgan_sees_70x70_patches():
    model = create_model("pix2pix", DataInfo(size=256), {"ngf": 4, "ndf": 4})
    assert model.netD(torch.randn(1, 6, 256, 256)).shape == (1, 1, 30, 30)


def test_any_input_size_translates_to_the_same_size():
    model = create_model("pix2pix", DataInfo(size=64), {"ngf": 4, "ndf": 4}).eval()
    with torch.no_grad():
        assert model.translate(torch.randn(2, 3, 37, 50)).shape == (2, 3, 37, 50)


def test_weights_follow_normal_init():  # the default's spectrally normalised D: its original weights, below
    model = create_model("pix2pix", DataInfo(size=256), Pix2Pix.paper_settings["model_opts"])
    w = model.netD.model[0].weight.detach()
    assert abs(float(w.std()) - 0.02) < 0.002 and abs(float(w.mean())) < 0.002


def test_lr_d_gives_the_discriminator_its_own_rate_and_0_the_shared_one():
    two = create_model("pix2pix", DataInfo(size=32), {"ngf": 4, "ndf": 4, "lr_d": 4e-4}).optimizers()
    one = create_model("pix2pix", DataInfo(size=32), {"ngf": 4, "ndf": 4}).optimizers()
    assert (two["G"].lr, two["D"].lr) == (2e-4, 4e-4) and (one["G"].lr, one["D"].lr) == (2e-4, 2e-4)


def test_spectral_norm_replaces_the_discriminators_batch_norm_and_bounds_each_convolution():
    model = create_model("pix2pix", DataInfo(size=64), {"ngf": 4, "ndf": 8})  # the default
    net = model.netD.train()
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 5 and all(torch.nn.utils.parametrize.is_parametrized(m, "weight") for m in convs)
    # the weights were initialised N(0, 0.02) before the normalisation was put on them
    assert all(abs(float(m.parametrizations.weight.original.detach().std()) - 0.02) < 0.004 for m in convs)
    for _ in range(30):  # power iterations, one per training forward pass
        net(torch.randn(1, 6, 64, 64))
    sigmas = [torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2) for m in convs]
    assert all(abs(float(s) - 1) < 0.02 for s in sigmas), sigmas
    assert model.netD(torch.randn(1, 6, 64, 64)).shape == (1, 1, 6, 6)


def test_feature_matching_is_the_l1_of_the_discriminators_activations_and_reaches_only_g():
    torch.manual_seed(0)
    info = DataInfo(size=32)
    batch = {"A": torch.rand(1, 3, 32, 32) * 2 - 1, "B": torch.rand(1, 3, 32, 32) * 2 - 1}
    # without spectral norm, whose power iteration would change D's weights between the passes compared here
    model = create_model("pix2pix", info, {"ngf": 4, "ndf": 4, "net_g": "unet_32", "spectral_norm": False})  # lambda_fm 10
    plain = create_model("pix2pix", info, {"ngf": 4, "ndf": 4, "net_g": "unet_32", "spectral_norm": False, "lambda_fm": 0})
    plain.load_state_dict(model.state_dict())
    fakes = model.fake(batch)
    out = model.generator_step(batch, fakes)
    fake_ab, real_ab = torch.cat([batch["A"], fakes["fake_B"]], 1), torch.cat([batch["A"], batch["B"]], 1)
    acts = {}
    for name, x in (("fake", fake_ab), ("real", real_ab)):
        acts[name] = []
        for layer in model.netD.model:
            x = layer(x)
            if isinstance(layer, nn.LeakyReLU):
                acts[name].append(x)
    assert len(acts["fake"]) == 4  # n_layers 3: the first convolution's and three more, pix2pixHD's intermediate outputs
    hand = sum((f - r).abs().mean() for f, r in zip(acts["fake"], acts["real"])) * 4 / 4
    assert torch.allclose(out["G_FM"], hand, rtol=1e-5)
    base = plain.generator_step(batch, fakes)
    assert "G_FM" not in base and torch.allclose(out["total"], base["total"] + 10 * hand, rtol=1e-5)
    model.netD.requires_grad_(False)
    out["total"].backward()
    assert all(p.grad is None for p in model.netD.parameters())
    assert all(p.grad is not None for p in model.netG.parameters() if p.requires_grad)
