"""Exponential moving average of the generators, kept on the host's count of its updates.

The averaged copy holds the generators' parameters averaged with weights ``decay ** age``, normalised
over the updates so far (the bias correction of Adam's moments): the first update copies, the second
weighs the two ``decay : 1``, and after many more than ``1 / (1 - decay)`` updates it is the plain
moving average. A short run is thus never dominated by its first weights.

``every`` = k averages every k-th generator step with the decay ``decay ** k`` (as EMA libraries do), so
the average spans the same number of steps at a k-th of the cost. An update is one ``torch._foreach_lerp_``
over the parameter lists with a weight computed on the host: it reads nothing back from the device, so on
a GPU no step waits for it. Buffers (e.g. batch-norm statistics) are copied as they are at each update;
``applied()`` swaps the averages into the live model (where the trainer recomputes the batch-norm
statistics for the averaged weights before they are saved or used in eval mode).

The state keeps the layout of torch's ``AveragedModel`` (``module.*`` and ``n_averaged``) with the count
of generator steps seen besides, so checkpoints of version 2 load unchanged, and those of version 1 (the
averaged parameters by name, no count) load with the age the caller gives: the generator steps taken.
"""

from __future__ import annotations

import contextlib
import copy

import torch
from torch import nn


class GeneratorEMA:
    def __init__(self, model, decay: float, every: int = 1):
        if every < 1:
            raise ValueError(f"every must be 1 or more, not {every}")
        self.live = nn.ModuleDict({name: getattr(model, name) for name in model.generators})
        self.decay, self.every = decay, every
        self.module = copy.deepcopy(self.live).requires_grad_(False)
        self.updates = 0  # updates of the average so far, on the host: no update reads the device
        self.seen = 0  # generator steps seen: the average takes every ``every``-th of them
        self._bind()

    def _bind(self) -> None:
        self._average = [p.detach() for p in self.module.parameters()]
        self._current = [p.detach() for p in self.live.parameters()]
        self._average_buffers = [b for b in self.module.buffers()]
        self._current_buffers = [b for b in self.live.buffers()]

    def weight(self) -> float:
        """The share of the live weights in the next update: ``(1 - d) / (1 - d ** (n + 1))`` after n updates,
        with d = ``decay ** every``; 1 (a copy) for the first."""
        d = self.decay ** self.every
        return (1.0 - d) / (1.0 - d ** (self.updates + 1))

    @torch.no_grad()
    def update(self) -> bool:
        """Called after each generator step; averages every ``every``-th one (the first included). Returns
        whether it did."""
        self.seen += 1
        if (self.seen - 1) % self.every:
            return False
        if self.updates == 0:
            torch._foreach_copy_(self._average, self._current)
        else:
            torch._foreach_lerp_(self._average, self._current, self.weight())
        if self._average_buffers:
            torch._foreach_copy_(self._average_buffers, self._current_buffers)
        self.updates += 1
        return True

    @contextlib.contextmanager
    def applied(self):
        """Temporarily load the averaged parameters and buffers into the model."""
        saved = {k: v.detach().clone() for k, v in self.live.state_dict().items()}
        self.live.load_state_dict(self.module.state_dict())
        try:
            yield
        finally:
            self.live.load_state_dict(saved)

    def state_dict(self) -> dict:
        average = {f"module.{k}": v for k, v in self.module.state_dict().items()}
        average["n_averaged"] = torch.tensor(self.updates, dtype=torch.long)
        return {"decay": self.decay, "every": self.every, "seen": self.seen, "average": average}

    def load_state_dict(self, state: dict, age: int | None = None) -> None:
        """``age``: for a checkpoint of version 1, which kept no count, the updates its average has taken
        (the generator steps of its run); without it such an average loads as one update. An average kept
        with another ``every`` (versions 1 and 2: every step) counts its age in this one's updates."""
        if "shadow" in state:  # version 1: the averaged parameters by name, a plain EMA from the first weights
            named = {f"module.{k}": v for k, v in state["shadow"].items()}
            updates = max(1, age or 1)
            average = {**{f"module.{k}": v for k, v in self.module.state_dict().items()}, **named}
            state = {"average": {**average, "n_averaged": torch.tensor(updates)}, "seen": updates}
        average = dict(state["average"])
        updates = int(average.pop("n_averaged"))  # once, on load
        self.module.load_state_dict({k.removeprefix("module."): v for k, v in average.items()})
        every = int(state.get("every", 1))  # versions 1 and 2 averaged every generator step
        self.seen = int(state.get("seen", updates * every))
        # an average taken every ``every`` steps is as old as ``updates * every / self.every`` updates of this one
        self.updates = updates if every == self.every else max(1, round(updates * every / self.every))
        self._bind()
