"""The model registry: ``@register_model(name, task)`` on a model class; create by name.

The built-in models register themselves when ``translate.models`` is imported. Models of other packages
(plug-ins) are modules those packages declare under the entry-point group ``translate.models``; importing
one registers its models. Both happen on the registry's first look-up (listing or getting a model), so the
registry sits below the models it lists. A plug-in that fails to import is named in one warning of the
``translate`` logger (one line), once per process, and left out; the others and the built-ins still load.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
from importlib.metadata import entry_points
from typing import Any, Mapping

from translate.config import coerce_fields, help_text, option_of, options_dict
from translate.errors import ArgumentError, UserError
from translate.types import TASKS, DataInfo

PLUGIN_GROUP = "translate.models"  # the entry-point group other packages declare their model modules under

log = logging.getLogger("translate")
_MODELS: dict[str, type] = {}
_plugins_loaded = False  # the plug-ins are imported once per process, whether or not they all load

def register_model(name: str, task: str):
    """Register a model class under ``name`` for ``task`` (paired | unpaired | labelled | unconditional):
    ``@register_model("mymodel", task="paired")`` on a subclass of ``translate.models.base.Translator`` or
    ``Sampler``. The one way to add a model, inside the package or in a plug-in."""
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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return type(exc).__name__ + (f": {text.splitlines()[0]}" if text else "")


def _load_plugins() -> None:
    """Import each module declared under the entry-point group ``translate.models``, once per process. A
    plug-in that fails to import is named in one warning and left out, with any model it registered before
    failing; the next look-ups do not try it again."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True  # first: a plug-in that looks models up as it is imported finds the ones loaded so far
    for point in entry_points(group=PLUGIN_GROUP):
        before = set(_MODELS)
        try:
            point.load()
        except Exception as exc:  # noqa: BLE001  (any error of a plug-in leaves out the plug-in, not the registry)
            for name in set(_MODELS) - before:
                del _MODELS[name]
            log.warning("skipped the %s plug-in '%s' (module %s): %s", PLUGIN_GROUP, point.name, point.module, _first_line(exc))


def _load() -> None:
    _load_builtin()
    _load_plugins()


def list_models(task: str | None = None) -> list[str]:
    _load()
    return sorted(n for n, c in _MODELS.items() if task is None or c.task == task)


def get_model_class(name: str) -> type:
    _load()
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
    to each option's type) applied. Unknown options raise ArgumentError. A Config passes through. An option
    the model no longer has (``Model.retired_options``) is dropped when it holds the value that did nothing,
    so the saved configs of older runs still load; any other value of it is refused."""
    cls = get_model_class(name)
    if isinstance(opts, cls.Config):
        return opts
    opts = options_dict(opts)
    retired = getattr(cls, "retired_options", {})
    opts = {k: v for k, v in opts.items() if not (k in retired and v == retired[k])}
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
