"""Shared types every layer may use: the model tasks and what a model needs to know about its data.

This module is part of the ground floor: it imports nothing of the project.
"""

from __future__ import annotations

from dataclasses import dataclass

# paired: A -> B from aligned pairs; unpaired: A <-> B from two folders; labelled: samples of a class;
# unconditional: samples from noise
TASKS = ("paired", "unpaired", "labelled", "unconditional")


@dataclass(frozen=True)
class DataInfo:
    """What a model needs to know about its data to build its networks."""

    input_nc: int = 3
    output_nc: int = 3
    size: int = 256  # training crop size
    class_names: tuple[str, ...] = ()
    dim: int = 0  # >0 for vector data (2-D toys)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)
