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
