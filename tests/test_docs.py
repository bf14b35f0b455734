"""The docs: README.md is the front page and docs/*.md the reference by task; every relative link in them
resolves, the models table matches the registry, and every `translate` command they show runs.

Which commands, and the marker (the README's Quickstart says the same to its readers):

- A command is a line of a fenced ```bash block that runs `translate` (`translate fit ...`, `python3 -m
  translate demo`, `torchrun ... -m translate fit ...`; a line ending in a backslash continues on the next).
- It is run here, on tiny data, in the order of its page, unless its comment says `needs: WHAT`
  (`# needs: a browser`, `# resume on any number of processes; needs: GPUs`): what it needs is not here (a
  browser, GPUs, minutes of CPU). A marked command is still parsed, so its command and flags exist.
- A comment saying `exits N` (`# exits 2: ...`) shows a command that fails on purpose with exit code N.

How they run: each page in a fresh working folder holding tiny versions of the files the docs name (see
`world`), in this process (typer's CliRunner on translate.cli.app). Running shrinks sizes, not behaviour:
iteration counts (--steps, --steps-decay, --eval-every, ...) are divided by 1000, rounded up; a new `fit`
trains at 32x32 (unet_N becomes unet_32) with networks 8 wide and batches of 2, for 2 steps when the line
gives none; `lab` runs one seed in this process, `demo` 2 steps; an official generator file is read at width 8.
"""

from __future__ import annotations

import dataclasses
import math
import re
import shlex
import shutil
from pathlib import Path

import pytest

from conftest import ROOT, tiny_opts
from translate.cli import app

README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]

# The two commands a newcomer runs on a fresh machine; the CI runs the second one as written here.
NEWCOMER = ("python3 -m pip install -e . && python3 -m translate demo",
            'python3 -m pip install -e ".[dev]" && python3 -m pytest -q')


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# reading the pages -----------------------------------------------------------------------------------

def prose(text: str) -> str:
    """The text outside fenced code blocks and inline code spans."""
    text = re.sub(r"^```.*?^```[ \t]*$", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in re.sub(r"^```.*?^```[ \t]*$", "", path.read_text(), flags=re.S | re.M).splitlines():
        if m := re.match(r"#{1,6} (.+)", line):
            base = slug(m.group(1))
            out.add(base if base not in seen else f"{base}-{seen[base]}")
            seen[base] = seen.get(base, 0) + 1
    return out


def bash_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, line) of the ```bash blocks, a line ending in a backslash joined with the next."""
    out, fence, bash, pending = [], False, False, None
    for no, line in enumerate(path.read_text().splitlines(), 1):
        if line.startswith("```"):
            fence, bash = (True, line[3:].strip() in ("bash", "sh", "shell")) if not fence else (False, False)
            continue
        if not bash:
            continue
        if pending:
            start, text = pending
            line = text + " " + line.strip()
        else:
            start = no
        if line.rstrip().endswith("\\"):
            pending = (start, line.rstrip()[:-1].rstrip())
            continue
        pending = None
        out.append((start, line))
    return out


def split_comment(line: str) -> tuple[str, str]:
    """The command part and the comment (after the first # outside quotes)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i], line[i + 1:]
    return line, ""


@dataclasses.dataclass
class Command:
    page: str
    line: int
    text: str
    args: list[str]  # after `translate`
    needs: str | None  # the marker: what the command needs that the tests do not have
    exits: int  # the exit code it is shown with

    def __str__(self) -> str:
        return f"{self.page}:{self.line}: {self.text.strip()}"


def translate_args(tokens: list[str]) -> list[str] | None:
    """The arguments of `translate ...`, `python -m translate ...` or `torchrun ... -m translate ...`."""
    if tokens and tokens[0] == "translate":
        return tokens[1:]
    for i in range(len(tokens) - 1):
        if tokens[i] == "-m" and tokens[i + 1] == "translate":
            return tokens[i + 2:]
    return None


def commands(path: Path) -> list[Command]:
    out = []
    for no, line in bash_lines(path):
        code, comment = split_comment(line)
        needs = re.search(r"\bneeds: *([^;]+)", comment)
        exits = re.search(r"\bexits (\d+)", comment)
        lexer = shlex.shlex(code, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        tokens, segment = list(lexer), []
        for token in [*tokens, "&&"]:
            if token in ("&&", "||", ";", "|"):
                args = translate_args(segment)
                if args is not None:
                    out.append(Command(rel(path), no, line, args, needs and needs.group(1).strip(),
                                       int(exits.group(1)) if exits else 0))
                segment = []
            else:
                segment.append(token)
    return out


def table(path: Path, header: str = "| model | task |") -> list[str]:
    lines = path.read_text().splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(header))
    rows = []
    for ln in lines[start + 2:]:
        if not ln.startswith("|"):
            break
        rows.append(ln)
    return rows


# (a) the front page, the pages and their links ------------------------------------------------------

def test_the_readme_is_a_front_page_with_the_two_commands():
    lines = README.read_text().splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; the reference belongs in docs/"
    bash = [text for _, text in bash_lines(README)]
    for command in NEWCOMER:
        assert command in bash, f"README.md lost the newcomer's command, as a line of a bash block: {command}"
    assert bash.index(NEWCOMER[1]) == bash.index(NEWCOMER[0]) + 1
    headings = [ln for ln in lines if ln.startswith("## ")]
    for heading in ("## Quickstart", "## Python API", "## Models", "## Documentation"):
        assert heading in headings


def test_there_are_docs_pages_by_task_and_the_readme_links_each():
    pages = sorted(DOCS.glob("*.md"))
    assert len(pages) >= 6, [p.name for p in pages]
    readme = README.read_text()
    for page in pages:
        assert f"]({rel(page)})" in readme, f"README.md does not link {rel(page)}"
    for page in pages:
        assert page.read_text().startswith("# "), f"{rel(page)} does not start with its title"


def test_every_relative_link_resolves():
    broken = []
    for page in PAGES:
        for target in re.findall(r"!?\[[^\]]*\]\(([^)\s]+)\)", prose(page.read_text())):
            if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
                continue
            file, _, anchor = target.partition("#")
            path = (page.parent / file).resolve() if file else page
            if not path.exists():
                broken.append(f"{rel(page)}: {target} (no such file)")
            elif anchor and path.suffix == ".md" and anchor not in anchors(path):
                broken.append(f"{rel(page)}: {target} (no heading #{anchor} in {path.name})")
    assert not broken, "\n".join(broken)


def test_the_docs_name_no_folder_of_a_particular_machine():
    for page in PAGES:
        for bad in ("../shared", "/work/", "/home/", "/tmp/"):
            assert bad not in page.read_text(), f"{rel(page)} names {bad}"


def test_the_models_table_lists_every_built_in_model():
    from translate.registry import get_model_class, list_models

    readme, page = table(README), table(DOCS / "models.md")
    assert readme == page, "the models table differs between README.md and docs/models.md"
    rows = {row.split("|")[1].strip(): row.split("|")[2].strip() for row in readme}
    built_in = {n: get_model_class(n).task for n in list_models()
                if get_model_class(n).__module__.startswith("translate.models.")}  # plug-ins have pages of their own
    assert rows == built_in


# (b) every command runs, or says what it needs ----------------------------------------------------

ALL = [c for page in PAGES for c in commands(page)]
RUN_PAGES = sorted({c.page for c in ALL if not c.needs}, key=lambda p: (p != "README.md", p))


def test_the_marked_commands_name_real_commands_and_flags():
    import typer

    group = typer.main.get_command(app)
    marked = [c for c in ALL if c.needs]
    assert marked, "no command is marked; the convention is `# needs: WHAT`"
    for command in marked:
        args = [a for a in command.args if a != "..."]
        ctx = typer.Context(group, info_name="translate")
        sub = group.get_command(ctx, args[0])
        assert sub is not None, f"{command}: no command '{args[0]}'"
        try:  # parse only: an unknown flag, a missing argument or a wrong type fails here
            sub.make_context(args[0], args[1:], parent=ctx)
        except Exception as exc:  # typer's own click's UsageError
            pytest.fail(f"{command}: {getattr(exc, 'format_message', exc.__str__)()}")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Tiny versions of what the docs name: data/facades/{train,val,test} (A|B images of 64x32 named 1.jpg,
    2.jpg, ... as the real archive), data/horse2zebra (trainA/ trainB/ testA/ testB/, 32x32), data/shapes
    (one folder per class, 32x32) and latest_net_G.pth (an official unet_256 generator file of width 8)."""
    import torch
    from PIL import Image

    from translate.data.synthetic import make_labelled, make_paired, make_unpaired
    from translate.nn import official
    from translate.nn.unet import UnetGenerator

    root = tmp_path_factory.mktemp("world")
    scratch = tmp_path_factory.mktemp("scratch")
    for seed, (split, n) in enumerate((("train", 4), ("val", 2), ("test", 2))):
        folder = root / "data" / "facades" / split
        folder.mkdir(parents=True)
        for i, file in enumerate(sorted(make_paired(scratch / split, n=n, size=32, seed=seed).glob("*.png")), 1):
            Image.open(file).save(folder / f"{i}.jpg", quality=95)
    make_unpaired(root / "data" / "horse2zebra", n=4, size=32)
    make_labelled(root / "data" / "shapes", n=6, size=32)
    torch.manual_seed(0)
    torch.save(official.to_official(UnetGenerator(3, 3, 8, 8, "batch").state_dict()), root / "latest_net_G.pth")
    return root


LAYOUT_MODEL = {"--paired": "pix2pix", "--unpaired": "cyclegan", "--labelled": "cgan", "--images": "gan", "--toy": "gan"}
ITERATIONS = ("--steps", "--steps-decay", "--eval-every", "--log-every", "--sample-every", "--checkpoint-every")


def _value(args: list[str], *flags: str) -> str | None:
    for i, a in enumerate(args):
        if a in flags and i + 1 < len(args):
            return args[i + 1]
        for flag in flags:
            if a.startswith(flag + "="):
                return a.split("=", 1)[1]
    return None


def _set(args: list[str], flag: str, value: str) -> list[str]:
    """``args`` with ``flag`` (and every other spelling of it) removed, then ``flag value`` added."""
    return [*_without(args, flag), flag, value]


def _without(args: list[str], *flags: str) -> list[str]:
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a in flags:
            skip = True
        elif not any(a.startswith(f + "=") for f in flags):
            out.append(a)
    return out


def shrink(args: list[str]) -> list[str]:
    """The command as it runs on tiny data: smaller sizes and fewer iterations, the same behaviour."""
    name, rest = args[0], list(args[1:])
    for flag in ITERATIONS:
        if (value := _value(rest, flag)) is not None and (name != "lab" or flag == "--steps"):
            rest = _set(rest, flag, str(max(1, math.ceil(int(value) / 1000))))
    layout = next((flag for flag in LAYOUT_MODEL if _value(rest, flag) is not None), None)
    if name == "fit" and layout and _value(rest, "--resume", "--config") is None:
        model = _value(rest, "--model", "-m") or LAYOUT_MODEL[layout]
        rest = _without(rest, "--image-size", "--load-size", "--crop-size", "--ngf", "--ndf", "--batch-size", "-b")
        rest = [re.sub(r"^unet_\d+$", "unet_32", a) for a in rest]
        if _value(rest, "--steps") is None:
            rest += ["--steps", "2"]
        if layout != "--toy":
            rest += ["--image-size", "32"]
        rest += ["--batch-size", "2", *(f"--opt={k}={v}" for k, v in tiny_opts(model).items())]
    elif name == "lab":
        rest = _set(_set(rest, "--seeds", "1"), "--jobs", "1")
        if _value(rest, "--steps") is None:
            rest += ["--steps", "1"]
    elif name == "demo" and _value(rest, "--steps") is None:
        rest += ["--steps", "2"]
    elif name == "convert" and rest and rest[0].endswith(".pth"):
        rest = _set(rest, "--ngf", "8")
    return [name, *rest]


@pytest.mark.parametrize("page", RUN_PAGES)
def test_the_commands_of_a_page_run_on_tiny_data(page, world, tmp_path, monkeypatch, runner):
    import torch

    work = tmp_path / "work"
    shutil.copytree(world, work)
    monkeypatch.chdir(work)
    threads = torch.get_num_threads()  # `translate lab` sets torch's threads for the process
    try:
        for command in (c for c in ALL if c.page == page and not c.needs):
            args = shrink(command.args)
            result = runner.invoke(app, args)
            detail = f"{command}\n  ran as: translate {shlex.join(args)}\n{result.output[-3000:]}"
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                detail += f"\n{result.exception!r}"
            assert result.exit_code == command.exits, detail
            assert "Traceback" not in result.output, detail
    finally:
        torch.set_num_threads(threads)
        shutil.rmtree(work, ignore_errors=True)  # the demo's run alone holds half a gigabyte
