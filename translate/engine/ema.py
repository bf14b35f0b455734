"""Exponential moving average of the generators, on torch's ``AveragedModel``.

The averaged copy holds the generators' parameters averaged with ``decay`` (the first update copies
them) and their buffers (e.g. batch-norm statistics) copied as they are. ``applied()`` swaps the
averages into the live model for sample grids and the saved generator weights.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


class GeneratorEMA:
    def __init__(self, model, decay: float):
        self.live = nn.ModuleDict({name: getattr(model, name) for name in model.generators})
        self.decay = decay
        self.average = AveragedModel(self.live, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=False)

    @torch.no_grad()
    def update(self) -> None:
        self.average.update_parameters(self.live)

    @contextlib.contextmanager
    def applied(self):
        """Temporarily load the averaged parameters into the model."""
        saved = {k: v.detach().clone() for k, v in self.live.state_dict().items()}
        self.live.load_state_dict(self.average.module.state_dict())
        try:
            yield
        finally:
            self.live.load_state_dict(saved)

    def state_dict(self) -> dict:
        return {"decay": self.decay, "average": self.average.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if "shadow" in state:  # checkpoints of version 1 kept the averaged parameters by name
            current = self.average.state_dict()
            state = {"average": {**current, **{f"module.{k}": v for k, v in state["shadow"].items()},
                                 "n_averaged": torch.ones_like(current["n_averaged"])}}
        self.average.load_state_dict(state["average"])
