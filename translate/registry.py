"""The model registry: ``@register_model(name, task)`` on a Translator subclass; create by name."""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any, Mapping

from translate.errors import UserError

TASKS = ("paired", "unpaired", "labelled", "unconditional")
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


def model_config(name: str, opts: Mapping[str, Any] | None = None):
    """The model's frozen Config with ``opts`` applied; unknown options raise UserError."""
    cls = get_model_class(name)
    opts = dict(opts or {})
    known = [f.name for f in dataclasses.fields(cls.Config)]
    for key in opts:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise UserError(f"model '{name}' has no option '{key}'{hint}; its options: {', '.join(known)}")
    from translate.config import coerce_fields

    return dataclasses.replace(cls.Config(), **coerce_fields(cls.Config, opts, "model"))


def create_model(name: str, info, opts: Mapping[str, Any] | None = None):
    cls = get_model_class(name)
    return cls(model_config(name, opts), info)
