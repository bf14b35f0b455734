"""Models from other packages: the example package of docs/plugins.md, and a broken one, made visible from a
temporary folder (``*.dist-info`` folders with ``entry_points.txt`` on ``sys.path``; nothing is installed)."""

from __future__ import annotations

import inspect
import logging
import re
import shlex
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import test_contract
from translate import registry
from translate.cli import app

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest itself depends on tomli there
    import tomli as tomllib

DOC = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"
# a file of the example: a line "`name`:" and the code block after it
FILE_BLOCK = re.compile(r"^`([\w.-]+)`:\n+```\w*\n(.*?)^```", re.M | re.S)
BROKEN = '''"""Registers a model, then fails to import: the model must not stay registered."""

from translate.models.pix2pix import Pix2Pix
from translate.registry import register_model


@register_model("half_loaded", task="paired")
class HalfLoaded(Pix2Pix):
    """pix2pix under another name."""


import translate_missing_dependency  # noqa: E402,F401
'''
BROKEN_LINE = ("skipped the translate.models plug-in 'broken' (module broken_plugin): "
               "ModuleNotFoundError: No module named 'translate_missing_dependency'")
# keeps the documented commands quick: 2 iterations of narrow networks on 64x64 crops
TINY_FIT = ["--steps", "2", "--load-size", "64", "--crop-size", "64", "--opt", "ngf=4", "--opt", "ndf=4", "--log-every", "1"]


def example_files() -> dict[str, str]:
    """The files of the example package, as docs/plugins.md shows them."""
    return dict(FILE_BLOCK.findall(DOC.read_text()))


def documented_commands() -> list[list[str]]:
    """The ``translate ...`` lines of the page's bash blocks, as argument lists."""
    blocks = re.findall(r"^```bash\n(.*?)^```", DOC.read_text(), re.M | re.S)
    lines = [shlex.split(line, comments=True) for block in blocks for line in block.splitlines()]
    return [words[1:] for words in lines if words[:1] == ["translate"]]


def write_distribution(site: Path, name: str, version: str, points: dict[str, str], files: dict[str, str]) -> None:
    """What installing a distribution leaves in site-packages: its modules and its .dist-info folder."""
    for file, text in files.items():
        (site / file).write_text(text)
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[{registry.PLUGIN_GROUP}]\n" + "".join(f"{k} = {v}\n" for k, v in points.items()))


@pytest.fixture
def site(tmp_path, monkeypatch):
    """The example package and a broken one on sys.path, and a registry that has not looked for plug-ins yet;
    afterwards the registry and sys.modules are as before, so no other test sees these models."""
    files = example_files()
    project = tomllib.loads(files.pop("pyproject.toml"))["project"]
    points = project["entry-points"][registry.PLUGIN_GROUP]
    modules = [value.split(":")[0] for value in points.values()] + ["broken_plugin"]
    site = tmp_path / "site-packages"
    site.mkdir()
    write_distribution(site, project["name"], project["version"], points, files)
    write_distribution(site, "translate-broken", "0.1", {"broken": "broken_plugin"}, {"broken_plugin.py": BROKEN})
    registry.list_models()  # the built-ins (and any plug-in installed here) first, into the registry kept below
    monkeypatch.setattr(registry, "_MODELS", dict(registry._MODELS))
    monkeypatch.setattr(registry, "_plugins_loaded", False)
    monkeypatch.syspath_prepend(str(site))
    yield site
    for module in modules:
        sys.modules.pop(module, None)


@pytest.fixture
def plugin(site):
    """The name of the example's model, after the registry found it."""
    builtin = set(registry._MODELS)
    (name,) = set(registry.list_models()) - builtin
    return name


def test_the_example_package_is_one_model_file_declared_as_an_entry_point():
    files = example_files()
    assert set(files) == {"pyproject.toml", "tinyconv.py"}
    points = tomllib.loads(files["pyproject.toml"])["project"]["entry-points"]["translate.models"]
    assert points == {"tinyconv": "tinyconv"}
    assert "@register_model(" in files["tinyconv.py"] and "class Config" in files["tinyconv.py"]
    assert BROKEN_LINE in DOC.read_text()  # the page shows the line a broken plug-in gives, word for word


def test_plugins_load_on_the_first_look_up_once_and_a_broken_one_is_named_in_one_line(site, monkeypatch, caplog):
    looked, original = [], registry.entry_points
    monkeypatch.setattr(registry, "entry_points", lambda **kw: looked.append(kw) or original(**kw))
    assert "tinyconv" not in sys.modules  # nothing is imported before a look-up
    with caplog.at_level(logging.WARNING, logger="translate"):
        models = registry.list_models()
        registry.get_model_class("tinyconv")
        registry.list_models("paired")
    assert looked == [{"group": "translate.models"}]  # one discovery for three look-ups
    assert {"tinyconv", "pix2pix", "cyclegan", "gan"} <= set(models)
    assert "half_loaded" not in models  # registered by the broken plug-in before it failed: taken back out
    assert [r.getMessage() for r in caplog.records] == [BROKEN_LINE]
    assert "broken_plugin" not in sys.modules


def test_translate_models_lists_the_plugin_model_and_names_the_broken_one_once(site, runner):
    first = runner.invoke(app, ["models"])
    assert first.exit_code == 0, first.output
    rows = first.output.replace("\n" + " " * 25, " ")  # a row wraps at 80 columns
    assert re.search(r"^tinyconv +paired +Paired translation: a three-layer convolutional generator", rows, re.M)
    assert re.search(r"^pix2pix +paired ", first.output, re.M)
    assert [line for line in first.output.splitlines() if "broken" in line] == [BROKEN_LINE]
    again = runner.invoke(app, ["models", "tinyconv"])
    assert again.exit_code == 0 and "broken" not in again.output, again.output  # once per process
    assert "lambda_l1 = 100.0\n      weight of the L1 distance to the target" in again.output


def _contract_checks():
    """The checks of tests/test_contract.py that take a model name (a new one joins by itself)."""
    checks = [f for n, f in vars(test_contract).items() if n.startswith("test_") and "name" in inspect.signature(f).parameters]
    assert len(checks) >= 4
    return checks


@pytest.mark.parametrize("check", _contract_checks(), ids=lambda f: f.__name__)
def test_the_plugin_model_keeps_the_contract(plugin, check, tmp_path):
    given = {"name": plugin, "vector": False, "tmp_path": tmp_path}
    params = inspect.signature(check).parameters
    assert set(params) <= set(given), f"{check.__name__} takes {set(params) - set(given)}: give it here too"
    check(**{k: given[k] for k in params})


def test_the_documented_commands_train_and_convert_with_the_plugin_model(site, runner, tmp_path, monkeypatch):
    from translate.data.synthetic import make_paired

    commands = documented_commands()
    assert [c[0] for c in commands] == ["models", "models", "fit", "convert"]
    monkeypatch.chdir(tmp_path)
    make_paired(tmp_path / "data" / "pairs", n=4, size=64)
    rng = np.random.default_rng(0)
    for name, (w, h) in {"a.png": (37, 23), "b.jpg": (64, 48)}.items():
        (tmp_path / "data" / "photos").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(tmp_path / "data" / "photos" / name)
    for words in commands:
        result = runner.invoke(app, words + (TINY_FIT if words[0] == "fit" else []))
        assert result.exit_code == 0, f"translate {shlex.join(words)}\n{result.output}"
    assert "model: tinyconv" in (tmp_path / "runs" / "tinyconv" / "config.yaml").read_text()
    out = tmp_path / "converted"
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    assert Image.open(out / "a.png").size == (37, 23) and Image.open(out / "b.png").size == (64, 48)
