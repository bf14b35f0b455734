"""Errors and warnings a user can act on. Part of the ground floor: imports nothing of the project.

Messages name arguments as the Python API spells them (``net_g``, ``crop_size``). An error or
warning about an argument is an ``ArgumentError`` / ``ArgumentWarning``: its message is a template
whose ``{name}`` fields are argument names, so the command line can spell the same message with its
flags (``--netG``, ``--crop-size``) from one table in ``cli.py``.
"""

from __future__ import annotations

from typing import Callable


class UserError(Exception):
    """Bad input, bad argument or bad file. The message names the thing and the fix."""


class WrongRunError(UserError):
    """A run of the wrong kind for what was asked: ``translates`` is True for a run that maps images (it
    cannot draw samples), False for one that draws samples (it cannot translate)."""

    def __init__(self, message: str, translates: bool):
        super().__init__(message)
        self.translates = translates


class ImageError(UserError):
    """An image file that cannot be read or decoded; ``path`` is the file, where known."""

    path = None


class Named:
    """A message template whose fields in ``names`` are argument names; the other fields are values."""

    def __init__(self, template: str, *names: str, **values):
        self.template, self.names, self.values = template, names, values
        super().__init__(self.render())

    def render(self, spell: Callable[[str], str] = str) -> str:
        """The message with each argument name spelled by ``spell`` (the API's own names by default)."""
        return self.template.format(**self.values, **{n: spell(n) for n in self.names})


class ArgumentError(Named, UserError):
    """A bad value of a named argument, e.g. ``ArgumentError("{net_g} must be unet_N, not '{v}'", "net_g", v=x)``."""


class ArgumentWarning(Named, UserWarning):
    """Something the user may want to change, naming the argument that changes it."""


class ImageTooLargeError(Named, ImageError):
    """An image over the pixel limit (a decompression bomb, or just huge); the message names the limit's argument."""


class DivergedError(Named, FloatingPointError):
    """A loss or gradient is not finite; the message says what to change."""


class ResourceError(UserError):
    """Work stopped for lack of disk space or memory: the input was fine, the machine ran short."""


def _amount(n_bytes: int) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= size:
            return f"{n_bytes / size:.3g} {unit}"
    return f"{n_bytes} bytes"


class DiskFullError(ResourceError):
    """No space (or no quota) left while writing ``path``; the file that was there before is unchanged."""

    def __init__(self, path, reason: str, needed: int, free: int, kept: bool):
        self.path, self.reason, self.needed, self.free = path, reason, needed, free
        before = f"; the previous {getattr(path, 'name', path)} is unchanged" if kept else ""
        super().__init__(f"{path}: {reason}: writing it needs at least {_amount(needed)} and {_amount(free)} is free "
                         f"there{before}; free some space and run again")


class OutOfMemory(Named, ResourceError):
    """The device ran out of memory; the message names the arguments that make the work smaller."""
