from __future__ import annotations

import pytest
import torch
from torch import nn

from translate.types import DataInfo
from translate.nn.layers import count_parameters
from translate.registry import create_model


def _dropouts(net):
    return sum(isinstance(m, nn.Dropout) for m in net.modules())


def test_parameter_counts_match_the_official_code():
    model = create_model("pix2pix", DataInfo(size=256))
    assert count_parameters(model.netG) == 54_413_955  # unet_256, ngf 64
    assert count_parameters(model.netD) == 2_768_705  # the 70x70 PatchGAN on 6 channels (input and output)


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


def test_weights_follow_normal_init():
    model = create_model("pix2pix", DataInfo(size=256))
    w = model.netD.model[0].weight.detach()
    assert abs(float(w.std()) - 0.02) < 0.002 and abs(float(w.mean())) < 0.002
