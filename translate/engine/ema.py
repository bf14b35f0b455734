"""Exponential moving average of the generator's parameters (copied buffers, e.g. batch-norm stats)."""

from __future__ import annotations

import contextlib

import torch
from torch import nn


class EMA:
    def __init__(self, model: nn.Module, params: list[nn.Parameter], decay: float):
        ids = {id(p) for p in params}
        self.decay = decay
        self.model = model
        self.names = [n for n, p in model.named_parameters() if id(p) in ids]
        named = dict(model.named_parameters())
        self.shadow = {n: named[n].detach().clone().float() for n in self.names}

    @torch.no_grad()
    def update(self) -> None:
        named = dict(self.model.named_parameters())
        for n in self.names:
            self.shadow[n].lerp_(named[n].detach().float(), 1.0 - self.decay)

    @contextlib.contextmanager
    def applied(self):
        """Temporarily load the averaged weights into the model."""
        named = dict(self.model.named_parameters())
        saved = {n: named[n].detach().clone() for n in self.names}
        with torch.no_grad():
            for n in self.names:
                named[n].copy_(self.shadow[n])
        try:
            yield
        finally:
            with torch.no_grad():
                for n in self.names:
                    named[n].copy_(saved[n])

    def state_dict(self) -> dict:
        return {"decay": self.decay, "shadow": self.shadow}

    def load_state_dict(self, state: dict) -> None:
        named = dict(self.model.named_parameters())
        self.shadow = {n: state["shadow"][n].to(named[n].device, torch.float32).clone() for n in self.names}
