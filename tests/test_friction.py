"""The frictions a new user met (issue 21): each pinned as the line the user now sees."""

from __future__ import annotations

import re

import pytest

from conftest import one_line_error
from translate.cli import app


@pytest.mark.parametrize("typed, ours, what", [("train", "fit", "to train a model"),
                                               ("test", "convert", "to convert images with a trained run"),
                                               ("predict", "convert", "to convert images with a trained run"),
                                               ("val", "evaluate", "to score a run")])
def test_commands_of_other_tools_point_to_ours(runner, typed, ours, what):
    line = one_line_error(runner.invoke(app, [typed, "--paired", "data/facades"]))
    assert line == f"error: translate has no '{typed}' command; {what}, use: translate {ours}"


def test_fit_takes_any_case_and_prints_only_what_it_changes_once_the_data_is_found(runner, tmp_path):
    from translate.data.synthetic import make_paired

    runs = tmp_path / "runs"
    result = runner.invoke(app, ["fit", "--paired", str(tmp_path / "missing"), "--runs-dir", str(runs)])
    assert one_line_error(result) == f"error: {tmp_path / 'missing'}: folder not found; pass the folder that holds your paired images"
    assert "config" not in result.output
    pairs = make_paired(tmp_path / "pairs", n=2, size=32)
    result = runner.invoke(app, ["fit", "--paired", str(pairs), "--direction", "btoa", "--precision", "FP32", "--runs-dir", str(runs),
                                 "--steps", "1", "--image-size", "32", "--ngf", "4", "--ndf", "4", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    start = lines.index(f"config: pix2pix's defaults, except these (all of it in {runs / 'pix2pix' / 'config.yaml'}):")
    assert lines[start + 1:start + 10] == [f"  data.root: {pairs}", "  data.direction: BtoA", "  data.load_size: 32",
                                           "  data.crop_size: 32", "  train.steps: 1", "  train.device: cpu",
                                           f"  run.runs_dir: {runs}", "  model.ngf: 4", "  model.ndf: 4"]
    assert not lines[start + 10].startswith("  "), "only changed values are printed"
    assert "  direction: BtoA  #" in (runs / "pix2pix" / "config.yaml").read_text()


def _rows(text: str) -> dict[str, str]:
    """{first flag of an option: the text of its first row} of a help drawn in panels."""
    rows: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        inner = line.strip()[1:-1] if line.strip().startswith("│") else ""
        match = re.match(r"^ [* ]{0,4}(--?[\w\[\]-]+(?: \w+=)?)", inner)
        if match:  # the first row of a flag: fit lists the models' own options under their flags again
            current = match.group(1) if match.group(1) not in rows else None
            if current:
                rows[current] = []
        if current and inner:
            rows[current].append(inner)
        if not inner:
            current = None
    return {flag: " ".join(" ".join(lines).split()) for flag, lines in rows.items()}


def test_every_help_fits_80_columns_with_every_default_shown(runner):
    import typer

    group = typer.main.get_command(app)
    for name, command in sorted(group.commands.items()):
        if command.hidden:
            continue
        text = runner.invoke(app, [name, "--help"], env={"COLUMNS": "80"}, terminal_width=80).output
        lines = text.splitlines()
        assert all(len(line) <= 80 for line in lines), (name, [line for line in lines if len(line) > 80])
        assert "…" not in text, f"{name}: a cut line"
        usage = next(line for line in lines if "Usage:" in line)
        assert "{" not in usage and "_dir" not in usage, usage
        rows = _rows(text)
        for param in command.params:
            if not param.opts or param.name == "help" or not param.opts[0].startswith("--"):
                continue
            flag = "--[no-]" + param.opts[0][2:] if param.secondary_opts else param.opts[0]
            row = rows[flag]
            for word in (param.help or "").replace("\\[", "[").split():
                assert any(word in line for line in lines), f"{name} {flag}: '{word}' is cut: {row}"
            assert row.count("default:") <= 1 and "[default]" not in row, f"{name} {flag} shows two defaults: {row}"
            has_default = param.default not in (None, [], ()) or "__" in param.name  # fit's options come from the config
            assert not has_default or "default" in row, f"{name} {flag} shows no default: {row}"
        if name == "fit":
            for flag in ("--ema", "--direction", "--device", "--precision"):
                assert "[default: " in rows[flag], rows[flag]
            assert rows["--[no-]cpu-gemm"].endswith("[default: on]")
    models = runner.invoke(app, ["models"]).output.splitlines()
    assert all(len(line) <= 80 for line in models)
    assert runner.invoke(app, ["convert", "--help"], env={"COLUMNS": "80"}, terminal_width=80).output.count("Usage: root convert [OPTIONS] RUN IN OUT") == 1


def test_check_and_fit_count_the_usable_images(runner, tmp_path):
    import os

    import numpy as np
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(6):
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    for i in range(4):
        (folder / f"bad{i}.png").write_bytes(b"not an image")
    os.symlink(folder / "gone.png", folder / "link.png")
    result = runner.invoke(app, ["check", str(folder)])
    assert result.exit_code == 1
    assert "contents: images: 6 samples (4 of 10 files cannot be used, listed below)" in result.output.splitlines()
    assert "5 problem(s):" in result.output
    line = one_line_error(runner.invoke(app, ["fit", "--images", str(folder), "--batch-size", "7", "--runs-dir", str(tmp_path / "runs"),
                                              "--steps", "1", "--image-size", "32", "--device", "cpu"]))
    assert line == "error: the dataset has 6 samples but --batch-size is 7; lower the batch size or add data"


def test_a_model_prints_as_one_line_and_an_api_typo_names_the_option():
    from conftest import tiny_info
    from translate import api, registry
    from translate.errors import UserError

    pix2pix = registry.create_model("pix2pix", tiny_info("pix2pix"), {"ngf": 8, "ndf": 8})
    assert repr(pix2pix) == str(pix2pix) == "<Pix2Pix 'pix2pix', paired, AtoB; parameters: netG 0.26 M, netD 0.04 M>"
    assert repr(registry.create_model("cyclegan", tiny_info("cyclegan"), {"ngf": 8, "ndf": 8})).startswith(
        "<CycleGAN 'cyclegan', unpaired, AtoB/BtoA; parameters: netG_A")
    assert ", unconditional, draws samples; " in repr(registry.create_model("gan", tiny_info("gan"), {"ngf": 8, "ndf": 8}))
    with pytest.raises(UserError) as typo:
        api.resolve_config({"data": {"crop_sise": 64}})
    assert str(typo.value).startswith("unknown option 'crop_sise' (did you mean 'crop_size'?); the options of 'data': root, layout,")
    with pytest.raises(UserError, match=r"^option 'crop_size' belongs to 'data': pass \{'data': \{'crop_size': ...\}\}$"):
        api.resolve_config({"crop_size": 64})


def test_resuming_a_finished_run_says_how_to_extend_it(runner, tmp_path):
    from translate.data.synthetic import make_paired

    pairs = make_paired(tmp_path / "pairs", n=2, size=32)
    args = ["--steps", "1", "--image-size", "32", "--ngf", "4", "--ndf", "4", "--device", "cpu"]
    first = runner.invoke(app, ["fit", "--paired", str(pairs), "--runs-dir", str(tmp_path / "runs"), *args])
    assert first.exit_code == 0 and "the run is complete" not in first.output, first.output
    run = tmp_path / "runs" / "pix2pix"
    again = runner.invoke(app, ["fit", "--resume", str(run)])
    assert again.exit_code == 0, again.output
    lines = again.output.splitlines()
    done = lines.index(f"done: step 1/1 in {run}")
    assert lines[done + 1] == f"the run is complete; to train longer: translate fit --resume {run} --steps N (N > 1)"
    longer = runner.invoke(app, ["fit", "--resume", str(run), "--steps", "2"])
    assert longer.exit_code == 0 and f"done: step 2/2 in {run}" in longer.output and "the run is complete" not in longer.output


def test_download_suggests_a_name_and_a_failed_download_leaves_no_folder(tmp_path, capsys):
    from conftest import load_script

    download = load_script("datasets/download.py")
    assert download.main(["facdes", "--to", str(tmp_path / "data")]) == 2
    assert "unknown dataset 'facdes' (did you mean 'facades'?); known: " in capsys.readouterr().err
    to = tmp_path / "new" / "data"
    assert download.main(["facades", "--to", str(to), "--url", "http://127.0.0.1:9/facades.tar.gz", "--timeout", "2"]) == 1
    assert "cannot connect" in capsys.readouterr().err
    assert not (tmp_path / "new").exists(), "a failed download left an empty folder"


def test_the_web_page_names_its_api_for_a_gradio_client():
    pytest.importorskip("gradio")
    from conftest import tiny_info
    from test_serve import page_for
    from translate.serve import build_app

    for name, endpoints in (("pix2pix", {"/translate_sketch", "/translate_upload"}), ("gan", {"/sample"})):
        page = page_for(name, tiny_info(name))
        api = build_app(page.model, page.cfg, page=page).get_api_info()
        assert set(api["named_endpoints"]) == endpoints, api["named_endpoints"].keys()


def test_one_converted_image_is_said_in_the_singular(runner, tmp_path):
    import numpy as np
    from PIL import Image

    from translate.data.synthetic import make_paired

    pairs = make_paired(tmp_path / "pairs", n=2, size=32)
    assert runner.invoke(app, ["fit", "--paired", str(pairs), "--runs-dir", str(tmp_path / "runs"), "--steps", "1", "--image-size", "32",
                               "--ngf", "4", "--ndf", "4", "--device", "cpu"]).exit_code == 0
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "one.png")
    result = runner.invoke(app, ["convert", str(tmp_path / "runs" / "pix2pix"), str(tmp_path / "one.png"), str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "converted 1 image in " in result.output and f"into {tmp_path / 'out'}; skipped 0 existing, 0 failed" in result.output


def test_a_loaded_run_prints_as_one_line(tmp_path, runner):
    import translate
    from translate.data.synthetic import make_paired

    pairs = make_paired(tmp_path / "pairs", n=2, size=32)
    assert runner.invoke(app, ["fit", "--paired", str(pairs), "--runs-dir", str(tmp_path / "runs"), "--steps", "1", "--image-size", "32",
                               "--ngf", "4", "--ndf", "4", "--device", "cpu"]).exit_code == 0
    run = translate.load_run(tmp_path / "runs" / "pix2pix")
    assert repr(run) == (f"Run(model=<Pix2Pix 'pix2pix', paired, AtoB; parameters: netG 0.07 M, netD 0.01 M>, "
                         f"cfg=<pix2pix, paired data {pairs}, AtoB, crop 32>)")
    model, cfg = run
    assert cfg.data.crop_size == 32


def test_the_web_page_says_it_scaled_an_input_and_convert_says_it_keeps_sizes(runner):
    pytest.importorskip("gradio")
    from test_serve import SIZE, page_for, sketch

    page = page_for("pix2pix")
    _, message = page.translate_sketch({"composite": sketch(128)}, "AtoB")
    assert message.startswith(f"AtoB: {SIZE}x{SIZE} pixels in ")
    assert message.endswith(f" ms; scaled down from 128x128 to the training size {SIZE} (convert keeps each image's size)")
    _, small = page.translate_sketch({"composite": sketch(SIZE)}, "AtoB")
    assert "scaled" not in small
    text = runner.invoke(app, ["convert", "--help"], env={"COLUMNS": "200"}, terminal_width=200).output
    assert "default: keep each image's size; the web page of 'translate serve' scales larger images down to the training size" in text


def test_export_mode_eval_matches_convert_mode_eval(runner, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    import numpy as np
    import torch
    from PIL import Image

    from translate.data.image_files import to_tensor_range, to_uint8
    from translate.data.synthetic import make_paired

    pairs = make_paired(tmp_path / "pairs", n=2, size=32)
    assert runner.invoke(app, ["fit", "--paired", str(pairs), "--runs-dir", str(tmp_path / "runs"), "--steps", "2", "--image-size", "32",
                               "--ngf", "4", "--ndf", "4", "--device", "cpu"]).exit_code == 0
    run = tmp_path / "runs" / "pix2pix"
    image = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "in.png")
    for mode, said in (("eval", "mode: eval: the same as translate convert --mode eval"),
                       ("paper", "mode: paper: each image's own statistics as translate convert --mode paper, without its dropout")):
        result = runner.invoke(app, ["export", str(run), str(tmp_path / f"{mode}.onnx"), "--mode", mode])
        assert result.exit_code == 0 and said in result.output.splitlines(), result.output
    converted = runner.invoke(app, ["convert", str(run), str(tmp_path / "in.png"), str(tmp_path / "out.png"), "--mode", "eval"])
    assert converted.exit_code == 0, converted.output
    session = ort.InferenceSession(str(tmp_path / "eval.onnx"), providers=["CPUExecutionProvider"])
    y = session.run(None, {"x": to_tensor_range(image)[None].numpy()})[0]
    ours = to_uint8(torch.from_numpy(y)[0]).astype(int)
    assert np.abs(ours - np.asarray(Image.open(tmp_path / "out.png")).astype(int)).max() <= 1
