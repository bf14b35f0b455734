"""Every option is described once, on its config field, and the command line, the resume rule, the help,
``translate models``, config.yaml's comments and the docs' options reference are derived from it."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

import pytest
import yaml

from translate import api
from translate import config as C
from translate.cli import app, reference_markdown, spell
from translate.cli_base import flag_names
from translate.registry import describe_options, list_models

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = {**C.SECTIONS, "model_opts": C.SharedModelOptions}


def _flagged():
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            if C.option_of(f).flag is not None:
                yield section, cls, f


def test_every_option_of_the_config_and_of_every_model_says_what_it_does():
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            opt = C.option_of(f)
            assert opt.help.strip(), f"{section}.{f.name} has no help"
            if opt.flag is not None:
                assert opt.panel, f"{section}.{f.name} has a flag but no help panel"
    for model in list_models():
        for name, _, meaning in describe_options(model):
            assert meaning.strip(), f"option {name} of model {model} says nothing of what it does"


def _other_value(cls, f):
    """A valid value different from the field's default, of the field's type."""
    opt, default = C.option_of(f), getattr(cls(), f.name)
    if opt.choices:
        return next(c for c in opt.choices if c != default)
    kind = typing.get_type_hints(cls)[f.name]
    kind = next((a for a in typing.get_args(kind) if a is not type(None)), kind)
    if kind is bool:
        return not default
    if kind is str:
        return f"x_{f.name}"
    return kind((default or 0) + 3)


def test_each_flag_sets_its_own_field_and_nothing_else(runner, monkeypatch):
    """Given alone, every flag derived from a field arrives in that field of the overrides the API resolves."""
    seen = []

    def capture(flags, config_file=None):
        seen.append(flags)
        raise SystemExit(0)

    monkeypatch.setattr(api, "resolve_config", capture)
    flags = flag_names()
    checked = 0
    for section, cls, f in _flagged():
        value = _other_value(cls, f)
        flag = flags[f.name]
        args = [f"--no-{flag[2:]}" if value is False else flag] + ([] if isinstance(value, bool) else [str(value)])
        seen.clear()
        result = runner.invoke(app, ["fit", "--images", ".", *args])
        assert seen, (args, result.output)
        overrides = {k: v for k, v in seen[0][section].items() if not (section == "data" and k in ("layout", "root"))}
        assert overrides == {f.name: value}, (args, seen[0])
        others = {s: v for s, v in seen[0].items() if s != section and v and s != "model" and s != "data"}
        assert not others, (args, others)
        checked += 1
    assert checked == len(flag_names()) >= 40  # data, train, run and the shared model flags


def test_the_flags_are_the_fields_and_the_messages_spell_them():
    assert (spell("net_g"), spell("lambda_l1"), spell("eval_every"), spell("flip")) == ("--netG", "--lambda-l1", "--eval-every", "--flip")
    assert spell("lambda_identity") == "--opt lambda_identity"  # a model option without a flag of its own
    text = "".join(f"{o.help}" for _, _, f in _flagged() for o in [C.option_of(f)])
    assert "--" not in text, "help texts name other options as {field}, which each reader spells"


def test_what_a_resume_may_change_is_what_the_fields_say(tmp_path):
    may = C.resumable()
    assert may["data"] == ("workers",) and "steps" in may["train"] and "seed" not in may["train"] and "run" not in may
    for section, cls, f in _flagged():
        overrides = {section: {f.name: getattr(cls(), f.name)}}
        if f.name in may.get(section, ()):
            api.check_resumable(overrides)
        else:
            with pytest.raises(C.ArgumentError, match=re.escape(f"cannot change {{{f.name}}}".format(**{f.name: f.name}))):
                api.check_resumable(overrides)


def test_config_yaml_carries_each_option_s_help_and_reads_back_the_same(tmp_path):
    cfg = api.resolve_config({"data": {"root": str(tmp_path), "layout": "unpaired"}, "model_opts": {"lambda_identity": 0.25}})
    path = tmp_path / "config.yaml"
    C.save_yaml(cfg, path)
    text = path.read_text()
    assert "  lambda_identity: 0.25  # weight of the identity loss, times lambda_a / lambda_b; 0 disables it" in text
    assert "  eval_count: 50  # With eval_every: score on at most N images of eval_data." in text
    assert "  ngf: 64  # Generator filters in the first layer." in text  # a shared option's one description
    keyed = [ln for ln in text.splitlines() if ln.startswith("  ")]
    assert keyed and all("  # " in ln for ln in keyed), [ln for ln in keyed if "  # " not in ln]
    assert api.load_config(tmp_path).to_dict() == cfg.to_dict()
    assert C.from_dict(yaml.safe_load(text)).to_dict() == cfg.to_dict()


def test_fit_help_shows_each_model_s_options_under_the_model_with_its_own_default(runner):
    text = runner.invoke(app, ["fit", "--help"], env={"COLUMNS": "200"}, terminal_width=200).output
    panels = dict(re.findall(r"╭─ (\w+) options ─+╮\n(.*?)╰", text, re.S))
    assert set(panels) == set(list_models())
    assert re.search(r"--lambda-l1 +weight of the L1 distance to the target in the generator loss \[default: 100.0\]", panels["pix2pix"])
    assert re.search(r"--lambda-l1 +recovery L1 weight.*\[default: 500.0\]", panels["dualgan"])
    assert re.search(r"--opt pool_size= +fakes kept in the history pool.*\[default: 50\]", panels["cyclegan"])
    assert "--lambda-l1" not in panels["cyclegan"]
    assert "[default: 1; cgan, discogan, gan, wgan, wgan_gp: 64]" in text  # a run option with the models' own defaults


def test_the_options_reference_in_the_docs_is_current():
    path = ROOT / "docs" / "options.md"
    assert path.is_file() and path.read_text() == reference_markdown(), \
        "docs/options.md is stale: run python scripts/options_doc.py"
    text = path.read_text()
    for section, cls, f in _flagged():
        assert f"`{flag_names()[f.name]}" in text, f.name
    for model in list_models():
        assert f"### {model}" in text


@pytest.mark.parametrize("args, option", [(["--opt", "label_smoothing=0.1"], "--opt label_smoothing"),
                                          (["--opt", "instance_noise=0.2"], "--opt instance_noise"),
                                          (["--opt", "hidden=64"], "--opt hidden")])
def test_an_option_the_model_does_not_have_is_refused(runner, tmp_path, args, option):
    """cgan has none of gan's stabilisers (it once inherited and ignored them): one line naming the option and
    cgan's own, exit 2, before anything is written. An older run's config.yaml, which holds them at the values
    that did nothing, still loads."""
    from conftest import one_line_error
    from translate.data.synthetic import make_labelled
    from translate.registry import model_config

    data = make_labelled(tmp_path / "labelled", n=4, size=16)
    result = runner.invoke(app, ["fit", "--labelled", str(data), "--model", "cgan", "--runs-dir", str(tmp_path / "runs"), *args])
    own = ", ".join(f.name for f in dataclasses.fields(model_config("cgan")))
    assert one_line_error(result) == f"error: model 'cgan' has no option {option}; its options: {own}"
    assert not (tmp_path / "runs").exists()
    old = {"hidden": 512, "label_smoothing": 0.0, "feature_matching": False, "instance_noise": 0.0, "embed_dim": 4}
    assert model_config("cgan", old).embed_dim == 4
