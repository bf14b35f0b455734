"""The model registry: ``@register_model(name, task)`` on a model class; create by name.

The built-in models register themselves when ``translate.models`` is imported; that import happens
on the first look-up (plug-in loading), so the registry sits below the models it lists.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any, Mapping

from translate.config import coerce_fields, help_text, option_of, options_dict
from translate.errors import ArgumentError, UserError
from translate.types import TASKS, DataInfo

_MODELS: dict[str, type] = {}

def register_model(name: str, task: str):
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, not {task!r}")

    def wrap(cls):
        if name in _MODELS:
            raise ValueError(f"model {name!r} is registered twice")
        cls.name, cls.task = name, task
        _MODELS[name] = cls
        return cls

    return wrap


def _load_builtin() -> None:
    import translate.models  # noqa: F401  (registers the built-in models)


def list_models(task: str | None = None) -> list[str]:
    _load_builtin()
    return sorted(n for n, c in _MODELS.items() if task is None or c.task == task)


def get_model_class(name: str) -> type:
    _load_builtin()
    if name not in _MODELS:
        close = difflib.get_close_matches(name, list(_MODELS), n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise UserError(f"unknown model '{name}'; {hint}available: {', '.join(sorted(_MODELS))}")
    return _MODELS[name]


def _literal(text: str) -> str:
    """``text`` as a message template that formats to itself."""
    return text.replace("{", "{{").replace("}", "}}")


def describe_options(name: str) -> list[tuple[str, Any, str]]:
    """(option, default, what it means) for each option of model ``name``: the help its Config gives the
    field, else the shared description of an option of that name (``translate.config.SharedModelOptions``)."""
    cls = get_model_class(name)
    default = cls.Config()
    return [(f.name, getattr(default, f.name), help_text(option_of(f))) for f in dataclasses.fields(cls.Config)]


def model_config(name: str, opts: Mapping[str, Any] | Any = None):
    """The model's typed Config: its defaults with ``opts`` (a mapping of option names to values, coerced
    to each option's type) applied. Unknown options raise ArgumentError. A Config passes through."""
    cls = get_model_class(name)
    if isinstance(opts, cls.Config):
        return opts
    opts = options_dict(opts)
    known = [f.name for f in dataclasses.fields(cls.Config)]
    for key in opts:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            if not key.isidentifier():
                raise UserError(f"model '{name}' has no option '{key}'; its options: {', '.join(known)}")
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ArgumentError(_literal(f"model '{name}' has no option ") + "{%s}" % key + _literal(f"{hint}; its options: {', '.join(known)}"),
                                key)
    return dataclasses.replace(cls.Config(), **coerce_fields(cls.Config, opts, "model"))


def create_model(name: str, info: DataInfo, opts: Mapping[str, Any] | Any = None):
    """Build model ``name`` for data described by ``info`` from its typed Config (or a mapping of options)."""
    return get_model_class(name)(model_config(name, opts), info)
