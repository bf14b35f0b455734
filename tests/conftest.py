from __future__ import annotations

import dataclasses

import pytest
import torch

from translate.data.synthetic import random_batch
from translate.models.base import DataInfo
from translate.registry import get_model_class

SIZE = 32


def tiny_opts(name: str) -> dict:
    """Shrink any width option a model has; no per-model table, so a new model is tested as it lands."""
    fields = {f.name for f in dataclasses.fields(get_model_class(name).Config)}
    return {k: 8 for k in ("ngf", "ndf", "nz", "hidden", "dim_hidden") if k in fields}


def tiny_info(name: str) -> DataInfo:
    task = get_model_class(name).task
    if task == "labelled":
        return DataInfo(input_nc=3, output_nc=3, size=SIZE, class_names=("a", "b", "c"))
    return DataInfo(input_nc=3, output_nc=3, size=SIZE)


def make_batch(name: str, info: DataInfo, n: int = 2, seed: int = 0) -> dict:
    return random_batch(get_model_class(name).task, info, n, seed)


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
