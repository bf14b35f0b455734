"""Exponential moving average of the generators, on torch's ``AveragedModel``.

The averaged copy holds the generators' parameters averaged with weights ``decay ** age``, normalised
over the updates so far (the bias correction of Adam's moments): the first update copies, the second
weighs the two ``decay : 1``, and after many more than ``1 / (1 - decay)`` updates it is the plain
moving average. A short run is thus never dominated by its first weights. Buffers (e.g. batch-norm
statistics) are copied as they are. ``applied()`` swaps the averages into the live model for sample
grids and the saved generator weights.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel


class GeneratorEMA:
    def __init__(self, model, decay: float):
        self.live = nn.ModuleDict({name: getattr(model, name) for name in model.generators})
        self.decay = decay
        self.updates = 0  # kept on the host, so that no update waits for the device's n_averaged
        self.average = AveragedModel(self.live, multi_avg_fn=self._lerp, use_buffers=False)

    def _lerp(self, averaged, current, num_averaged) -> None:
        # the new weights' share after ``self.updates`` earlier ones: (1 - d) / (1 - d ** (n + 1))
        weight = (1.0 - self.decay) / (1.0 - self.decay ** (self.updates + 1))
        torch._foreach_lerp_(averaged, current, weight)

    @torch.no_grad()
    def update(self) -> None:
        self.average.update_parameters(self.live)
        self.updates += 1

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
        self.updates = int(self.average.n_averaged)
