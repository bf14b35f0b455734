"""translate: image-to-image translation with GANs on one training engine.

The Python API (see the README's "Python API")::

    import translate
    cfg = translate.resolve_config({"data": {"root": "data/train"}, "train": {"steps": 200}})
    result = translate.fit(cfg)
    run = translate.load_run(result["run_dir"])  # also unpacks: model, cfg = translate.load_run(...)
    picture = run.translate(Image.open("sketch.png"))

``fit``, ``resume`` and ``resolve_config`` are those of ``translate.api`` and ``load_run`` that of
``translate.run`` (a ``Run``), imported on first use (PEP 562), so ``import translate`` stays light and a
sub-module imports no more than it needs.
"""

__version__ = "0.1.0"
__all__ = ["fit", "resume", "load_run", "resolve_config", "__version__"]
_API = ("fit", "resume", "load_run", "resolve_config")


def __getattr__(name: str):
    if name in _API:
        from translate import api, run

        value = getattr(run if name == "load_run" else api, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'translate' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
