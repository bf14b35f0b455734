"""The layer rules of the package, read from the source: every import points down, no import hides in a
function, and words of the command line (flags) appear only in cli.py."""

from __future__ import annotations

import ast
import graphlib
import re
from pathlib import Path

import pytest

import translate

ROOT = Path(translate.__file__).parent

# Floors, lowest first. A module may import modules of a lower floor, and modules of its own package as
# INNER_FLOORS allows.
FLOORS = [
    {"translate.types", "translate.errors"},  # the ground floor: imports nothing of the project
    {"translate.files"},  # the ground floor's file safety: it raises the errors of the floor below
    {"translate.config"},
    {"translate.data", "translate.nn", "translate.losses", "translate.registry"},
    {"translate.pictures", "translate.mode_coverage", "translate.metrics", "translate.pretrained"},
    {"translate.models"},
    {"translate.engine"},
    {"translate.evaluate"},  # the one scorer: the trainer's (through api) and the evaluate command's
    {"translate.api", "translate.lab"},
    {"translate.inference", "translate.export", "translate.sampling"},
    {"translate.demo", "translate.serve", "translate.run"},
    {"translate.cli_base"},  # what the commands share: errors to exit codes, flag spelling, options from the config
    {"translate.cli", "translate"},
    {"translate.__main__"},
]
# Inside engine/ and data/ every module has a floor of its own, lowest first: a module there may import only
# modules of a lower floor of its package (and anything on a lower floor of FLOORS). A package's __init__ sits
# on its top floor, so ``from translate.data import X`` inside data/ is an upward import. In models/ and nn/
# the modules of one package may import each other.
INNER_FLOORS = {
    "translate.data": [
        {"translate.data.image_files", "translate.data.loader", "translate.data.synthetic", "translate.data.edges"},
        {"translate.data.layouts", "translate.data.transforms"},
        {"translate.data.datasets"},
        {"translate.data.labelled", "translate.data.unpaired", "translate.data.toy"},
        {"translate.data.check", "translate.data"},
    ],
    "translate.engine": [
        {"translate.engine.hardware", "translate.engine.ema", "translate.engine.progress", "translate.engine.run_folder"},
        {"translate.engine.distributed", "translate.engine.plots", "translate.engine.scalars"},
        {"translate.engine.trainer"},
        {"translate.engine"},
    ],
}
COMMANDS = {"translate.cli", "translate.cli_base", "translate.api", "translate.inference", "translate.evaluate", "translate.export",
            "translate.sampling", "translate.demo", "translate.serve", "translate.run", "translate.lab",
            "translate"}  # the package top: its lazy attributes are the API's fit, resume and load_run
# imports of the project inside a function: the CLI (it loads what a command needs), the registry's plug-ins
# and the package's lazy API (PEP 562: ``translate.fit`` imports translate.api on first use, so that
# ``import translate`` and every sub-module's import of the package stay light)
INNER_IMPORTS_ALLOWED = {("translate.registry", "_load_builtin"), ("translate", "__getattr__")}


def _modules() -> dict[str, ast.Module]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        name = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts).removesuffix(".__init__")
        out[name] = ast.parse(path.read_text(), str(path))
    return out


MODULES = _modules()


def _unit(name: str) -> str:
    """translate.data.datasets -> translate.data; translate.config -> translate.config."""
    return ".".join(name.split(".")[:2])


def _floor(name: str) -> int:
    if name == "<dynamic import>":
        return len(FLOORS)
    unit = _unit(name)
    for i, floor in enumerate(FLOORS):
        if unit in floor:
            return i
    raise AssertionError(f"{name} is on no floor: add it to FLOORS in {__file__}")


def _inner_floor(name: str) -> int:
    for i, floor in enumerate(INNER_FLOORS[_unit(name)]):
        if name in floor:
            return i
    raise AssertionError(f"{name} is on no floor of its package: add it to INNER_FLOORS in {__file__}")


def _points_down(target: str, module: str) -> bool:
    """Whether ``module`` may import ``target`` at module level."""
    if target == "<dynamic import>" or _unit(target) != _unit(module):
        return _floor(target) < _floor(module)
    if _unit(module) in INNER_FLOORS:
        return _inner_floor(target) < _inner_floor(module)
    return True


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split(".")[1:])
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _absolute(node: ast.ImportFrom, module: str) -> str:
    """The module a relative import names (``from ..engine import x`` in translate.data.layouts: translate.engine)."""
    if not node.level:
        return node.module or ""
    package = module.split(".")
    if not (ROOT / Path(*package[1:]) / "__init__.py").is_file():  # a module, not a package: start from its package
        package = package[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(tree: ast.AST, module: str) -> list[tuple[str, int]]:
    """(module imported, line) for each import of the project in ``tree``. ``from P import x`` imports the
    sub-module P.x where there is one, else P itself: ``import translate`` and ``from translate import fit``
    import the package top (translate/__init__.py)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            node = ast.ImportFrom(module=_absolute(node, module), names=node.names, level=0, lineno=node.lineno)
        if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "__import__"):
            found.append(("<dynamic import>", node.lineno))  # importlib.import_module(...) hides what it imports
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "translate":
            subs = [f"{node.module}.{a.name}" for a in node.names]
            found += [(sub if _is_module(sub) else node.module, node.lineno) for sub in subs]
        elif isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "translate"]
    return sorted(set(found), key=lambda f: (f[1], f[0]))


def _module_level_imports(tree: ast.Module, module: str) -> list[tuple[str, int]]:
    top = ast.Module(body=[n for n in tree.body if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))],
                     type_ignores=[])
    inside_classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    return _imports(top, module) + [i for c in inside_classes for i in _imports(c, module)]


def _violations(module: str, tree: ast.Module) -> list[str]:
    """The module-level imports of ``module`` that do not point down."""
    return [f"{module}:{line} imports {target}, which is not on a lower floor"
            for target, line in _module_level_imports(tree, module) if not _points_down(target, module)]


def test_the_module_list_is_the_package():
    assert len(MODULES) > 20, sorted(MODULES)
    known = {"translate", "translate.cli", "translate.registry", "translate.models.base", "translate.engine",
             "translate.engine.trainer", "translate.data", "translate.data.layouts", "translate.nn.unet"}
    assert known <= set(MODULES), known - set(MODULES)


def test_every_floor_holds_modules_that_exist():
    inner = [m for floors in INNER_FLOORS.values() for floor in floors for m in floor]
    named = [unit for floor in FLOORS for unit in floor] + inner
    assert not set(named) - set(MODULES), f"not modules of the package: {set(named) - set(MODULES)}"
    assert len(inner) == len(set(inner)), "a module is on two floors of its package"
    for module in MODULES:
        _floor(module)
        if _unit(module) in INNER_FLOORS:
            _inner_floor(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_import_points_down(module):
    assert not _violations(module, MODULES[module])


def test_the_imports_form_no_cycle():
    graph = {m: {t for t, _ in _module_level_imports(tree, m) if t in MODULES} for m, tree in MODULES.items()}
    try:
        list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as err:
        pytest.fail(f"import cycle: {' -> '.join(err.args[1])}")


def test_the_floors_catch_an_upward_import():
    """The floors inside engine/ and data/ and the package top, on made-up module sources."""

    def violations(module: str, source: str) -> list[str]:
        return _violations(module, ast.parse(source))

    assert violations("translate.engine.run_folder", "from translate.engine import trainer\n") == [
        "translate.engine.run_folder:1 imports translate.engine.trainer, which is not on a lower floor"]
    assert violations("translate.data.layouts", "from .datasets import KeyedDataset\n")
    assert violations("translate.data.datasets", "from translate.data import TASK_LAYOUTS\n")  # the package's __init__
    assert violations("translate.engine.ema", "from translate.engine import ema\n")  # its own floor
    assert violations("translate.data.image_files", "import translate\n") == [
        "translate.data.image_files:1 imports translate, which is not on a lower floor"]
    assert violations("translate.engine.hardware", "from translate import fit\n")
    assert violations("translate.models.pix2pix", "import translate.api\n")
    assert not violations("translate.engine.plots", "from translate.engine import run_folder\nfrom translate import losses\n")
    assert not violations("translate.data.toy", "from .datasets import KeyedDataset\nfrom translate.errors import UserError\n")
    assert not violations("translate.models.cyclegan", "from translate.models import base, pix2pix\n")
    assert not violations("translate.cli", "import translate.api\n")


def test_the_rules_of_the_issue_hold():
    for module, tree in MODULES.items():
        targets = {_unit(t) for t, _ in _imports(tree, module)} - {_unit(module)}
        if module in FLOORS[0]:
            assert not targets, f"{module} is on the ground floor but imports {targets}"
        if _unit(module) in ("translate.data", "translate.nn", "translate.losses"):
            assert not targets & ({"translate.models", "translate.engine"} | COMMANDS), module
        if _unit(module) == "translate.models":
            assert not targets & ({"translate.engine"} | COMMANDS), module
        if _unit(module) == "translate.engine":
            concrete = {t for t, _ in _imports(tree, module) if t.startswith("translate.models") and t != "translate.models.base"}
            assert not concrete, f"{module} imports a concrete model: {concrete}"
        if module == "translate.config":
            assert targets <= FLOORS[0] | FLOORS[1], module


def test_no_import_of_the_project_hides_in_a_function():
    hidden = []
    for module, tree in MODULES.items():
        if module in ("translate.cli", "translate.cli_base"):  # the CLI imports what a command needs when it runs
            continue
        for fn in ast.walk(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and (module, fn.name) not in INNER_IMPORTS_ALLOWED:
                hidden += [f"{module}.{fn.name}:{line} imports {t}" for t, line in _imports(fn, module)]
    assert not hidden, "\n".join(hidden)


FLAG = re.compile(r"(?<![\w-])--[a-zA-Z]")


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                ids.add(id(first.value))
    return ids


def test_only_the_cli_speaks_of_flags():
    """Below the CLI, messages name arguments as the API does; cli.py spells them as flags."""
    found = []
    for module, tree in MODULES.items():
        if module in ("translate.cli", "translate.cli_base", "translate.__main__"):
            continue
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs and FLAG.search(node.value):
                found.append(f"{module}:{node.lineno}: {node.value!r}")
    assert not found, "\n".join(found)


def test_the_rules_can_fail(tmp_path):
    """The checks above see what they are meant to see."""
    bad = ast.parse("import os\ndef f():\n    from translate import api\n    raise ValueError('pass --netG')\n")
    assert _imports(bad, "x") == [("translate.api", 3)]
    assert not _module_level_imports(bad, "x")
    assert [n for n in ast.walk(bad) if isinstance(n, ast.Constant) and isinstance(n.value, str) and FLAG.search(n.value)]
    assert _floor("translate.nn.unet") < _floor("translate.models.pix2pix") < _floor("translate.engine.trainer")
    upward = ast.parse("from ..engine import hardware\nfrom translate.models import base\n")
    assert {t for t, _ in _imports(upward, "translate.data.layouts")} == {"translate.engine.hardware", "translate.models.base"}
    assert all(_floor(t) > _floor("translate.data.layouts") for t, _ in _module_level_imports(upward, "translate.data.layouts"))
    dynamic = ast.parse("import importlib\ndef f():\n    return importlib.import_module('translate.api')\n")
    assert _imports(dynamic.body[1], "translate.nn.unet") == [("<dynamic import>", 3)]


def test_errors_name_api_arguments_and_the_cli_spells_them_as_flags():
    from translate.cli import spell
    from translate.errors import ArgumentError
    from translate.nn.unet import unet_depth

    with pytest.raises(ArgumentError) as err:
        unet_depth("unet_100", 64)
    assert str(err.value) == "net_g unet_100: N must be a power of two >= 32 (e.g. unet_256, unet_128, unet_32)"
    assert err.value.render(spell).startswith("--netG unet_100: N must be a power of two")
    assert (spell("crop_size"), spell("lambda_identity"), spell("layout=paired")) == ("--crop-size", "--opt lambda_identity", "--paired DIR")
    braces = ArgumentError("{ab} must be left or right, not '{value}'", "ab", value="{x}")
    assert braces.render(spell) == "--ab must be left or right, not '{x}'"  # values are never read as fields


def test_the_model_config_is_built_once_and_carried_typed(monkeypatch, tmp_path):
    from translate import api, registry
    from translate.models.pix2pix import Pix2Pix

    built = []
    original = registry.model_config
    monkeypatch.setattr(api, "model_config", lambda *a: built.append(a) or original(*a))
    cfg = api.resolve_config({"data": {"root": str(tmp_path)}, "model_opts": {"lambda_l1": "50"}})
    assert isinstance(cfg.model_opts, Pix2Pix.Config) and cfg.model_opts.lambda_l1 == 50.0
    assert len(built) == 1
    assert registry.model_config("pix2pix", cfg.model_opts) is cfg.model_opts  # passed on, not rebuilt
    lines = api.describe(cfg)
    assert "* model.lambda_l1: 50.0" in lines and "  model.ngf: 64" in lines


def test_the_cli_copies_of_library_constants_agree():
    """cli_base keeps the few library defaults its options show without importing torch; they must not drift."""
    from translate import cli_base, inference
    from translate.data import image_files

    assert cli_base.MAX_PIXELS == image_files.MAX_PIXELS
    assert cli_base.PNG_LEVEL == inference.PNG_LEVEL
