"""The package's Python API: what `import translate` gives, and the README's example, run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import translate

README = Path(__file__).resolve().parents[1] / "README.md"


def test_import_translate_is_light_and_gives_the_api():
    code = "import sys, translate; print('torch' in sys.modules, translate.__version__, sorted(translate.__all__))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split(" ", 2)
    assert out[0] == "False" and out[1] == translate.__version__
    assert out[2].strip() == str(sorted(["__version__", "fit", "load_run", "resolve_config", "resume"]))

    from translate import api, run

    assert (translate.fit, translate.resume, translate.load_run, translate.resolve_config) == (
        api.fit, api.resume, run.load_run, api.resolve_config)
    assert {"fit", "load_run"} <= set(dir(translate))
    with pytest.raises(AttributeError, match="no_such_name"):
        translate.no_such_name  # noqa: B018


def test_the_readme_example_runs(tmp_path, monkeypatch):
    section = README.read_text().split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, str(README), "exec"), scope)
    assert tuple(scope["y"].shape) == (2, 3, 64, 64) and scope["result"]["step"] == 10
    assert (scope["picture"].mode, scope["picture"].size) == ("RGB", (64, 64))
    assert (scope["deep"].dtype.name, scope["deep"].shape) == ("uint16", (64, 64, 3))
    assert scope["report"].converted == 16 and len(list((tmp_path / "converted").glob("*.png"))) == 16
    assert (tmp_path / "runs" / "sketches" / "generator.pt").is_file()
