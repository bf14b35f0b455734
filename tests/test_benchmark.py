"""The pure pieces of scripts/benchmark.py and its parts in scripts/bench/ (two-count timing, the metrics.csv
reader, the cpuinfo parser, the table) and one tiny end-to-end run of it. Speed itself is never asserted: the benchmark measures it."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from conftest import ROOT, load_script
from PIL import Image

load_script("scripts/benchmark.py")  # it puts its folder on sys.path, as running it does
from bench import cases, profile, report, timing  # noqa: E402

AMD = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9R14 96-Core Processor
flags\t\t: fpu sse sse2 avx avx2 fma avx512f avx512dq avx512bw avx512_bf16 avx512_vnni
processor\t: 1
model name\t: AMD EPYC 9R14 96-Core Processor
flags\t\t: fpu sse sse2 avx avx2 fma avx512f avx512dq avx512bw avx512_bf16 avx512_vnni
"""
SAPPHIRE = ("model name\t: Intel(R) Xeon(R) Platinum 8488C\n"
            "flags\t\t: avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8\n")
HASWELL = "model name\t: Intel(R) Xeon(R) CPU E5-2686 v4 @ 2.30GHz\nflags\t\t: sse4_2 avx avx2 fma\n"


def test_two_counts_cancel_what_the_runs_share():
    # 5 s of start-up and save in both runs, 0.25 s per iteration
    assert timing.per_iteration(10, 5 + 10 * 0.25, 30, 5 + 30 * 0.25) == 0.25
    with pytest.raises(ValueError, match=r"^the second count \(10\) must be larger than the first \(10\)$"):
        timing.per_iteration(10, 1.0, 10, 2.0)


def test_steady_state_skips_the_first_row_and_weights_rows_by_iterations(tmp_path):
    csv = tmp_path / "metrics.csv"
    # row 1 (warm-up, excluded): 5 iterations; then 5 iterations at 2/s (2.5 s) and 10 at 4/s (2.5 s)
    csv.write_text("step,epoch,lr,images_per_s,G\n5,0.1,0.0002,0.5,1.0\n10,0.2,0.0002,2.0,1.0\n20,0.4,0.0002,4.0,1.0\n")
    assert timing.steady_state(csv) == (15 / 5.0, None)
    csv.write_text("step,epoch,lr,images_per_s,data_wait\n5,0.1,0.0002,0.5,0.9\n10,0.2,0.0002,2.0,0.5\n20,0.4,0.0002,4.0,0.25\n")
    assert timing.steady_state(csv) == (3.0, (0.5 * 2.5 + 0.25 * 2.5) / 5.0)
    csv.write_text("step,epoch,lr,images_per_s\n5,0.1,0.0002,0.5\n")
    with pytest.raises(ValueError, match=r"metrics.csv: 1 rows, need more than 1 \(lower --log-every\)$"):
        timing.steady_state(csv)


@pytest.mark.parametrize(("text", "model", "isa", "native"), [
    (AMD, "AMD EPYC 9R14 96-Core Processor", ["AVX2", "AVX-512F", "AVX512-VNNI", "AVX512-BF16"], True),
    (SAPPHIRE, "Intel(R) Xeon(R) Platinum 8488C", ["AVX2", "AVX-512F", "AVX512-BF16", "AMX-BF16", "AMX-INT8"], True),
    (HASWELL, "Intel(R) Xeon(R) CPU E5-2686 v4 @ 2.30GHz", ["AVX2"], False),
    ("", "unknown CPU", [], False),
])
def test_cpu_model_and_isa_from_cpuinfo(text, model, isa, native):
    assert timing.cpu_info(text) == (model, isa)
    assert timing.native_bf16(isa) is native


def test_table_rows_carry_the_speedup_and_a_percent_of_peak():
    rows = [{"case": "pix2pix 256", "variant": "official", "iters": "10/30", "s_per_iter": 0.75, "speedup": None,
             "images_per_s": None, "data_wait": None, "peak_rss_mb": 1500.4, "gflop_s": 40.0, "pct_peak": 44.44},
            {"case": "pix2pix 256", "variant": "translate bf16", "iters": "10/30", "s_per_iter": 0.5, "speedup": 1.5,
             "images_per_s": 2.1, "data_wait": 0.125, "peak_rss_mb": 1200.0, "gflop_s": 60.0, "pct_peak": 0.5,
             "from_metrics": True}]
    assert report.table(rows, report.E2E_COLUMNS).splitlines()[2:] == [
        "| pix2pix 256 | official | 10/30 | 0.750 | - | - | - | 1500 | 40.0 | 44.4% |",
        "| pix2pix 256 | translate bf16 | 10/30 | 0.500 | 1.50x | 2.100 | 12% | 1200 | 60.0 | 0.50%* |",
    ]


def test_generated_jpegs_have_the_real_sizes_and_layouts(tmp_path):
    cases.make_images(tmp_path / "p", True, 2, 64)
    cases.make_images(tmp_path / "u", False, 3, 64)
    assert sorted(p.name for p in (tmp_path / "p" / "train").iterdir()) == ["0000.jpg", "0001.jpg"]
    assert Image.open(tmp_path / "p" / "train" / "0001.jpg").size == (128, 64)
    for side in ("trainA", "trainB"):
        assert len(list((tmp_path / "u" / side).iterdir())) == 3
        with Image.open(tmp_path / "u" / side / "0002.jpg") as img:
            assert (img.format, img.size) == ("JPEG", (64, 64))


def test_tree_memory_counts_a_child_process():
    child = subprocess.Popen([sys.executable, "-c", "import sys; b = b'x' * (200 * 2**20); print('ready', flush=True); "
                              "sys.stdin.read()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert child.stdout.readline() == b"ready\n"
        assert timing.tree_memory(child.pid) > 200 * 2**20  # the child's bytes
        assert timing.tree_memory(os.getpid()) > timing.tree_memory(child.pid) + 50 * 2**20  # and this process's torch
    finally:
        child.communicate(b"")


@pytest.mark.slow
def test_quick_end_to_end_prints_a_table_with_a_percent_in_each_row():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "benchmark.py"), "--end-to-end", "--quick", "--markdown"],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert re.match(r"CPU: .+ \(.*; bf16 (native|emulated)\), \d+ logical CPUs$", lines[0]), lines[0]
    assert re.match(r"torch \S+, \d+ threads; \d{4}-\d\d-\d\d$", lines[1]), lines[1]
    header = lines.index("| case | variant | iterations | s/iter | speed-up | images/s (metrics) | data wait | peak memory MB "
                         "| GFLOP/s | % of peak |")
    rows = [ln for ln in lines[header + 2:] if ln.startswith("|")]
    assert [r.split(" | ")[:3] for r in rows] == [["| pix2pix 32 (quick)", "translate fp32", "3/6"]]
    assert all(re.search(r"\| \d+\.\d+%\*? \|$", r) for r in rows), rows


def test_official_folder_without_the_scripts_says_how_to_get_them(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "benchmark.py"), "--end-to-end", "--official", str(tmp_path)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[0] == f"--official {tmp_path}: no train.py and test.py there."
    assert "    cd official.git && for f in $(git ls-tree -r --name-only 2a7afba | grep '[.]py$'); do" in lines


@pytest.mark.parametrize("name, part", [("aten::convolution_backward", "convolution backward"),
                                        ("aten::mkldnn_convolution", "convolution forward"), ("aten::_to_copy", "casts and copies"),
                                        ("aten::native_batch_norm_backward", "normalisation"), ("aten::_fused_adam_", "optimizer (Adam)"),
                                        ("aten::linalg_vector_norm", "gradient norm (NaN watch)"), ("aten::addmm", "GEMM path (im2col + matmul)"),
                                        ("aten::leaky_relu_backward", "activations"), ("aten::cat", "other")])
def test_profile_puts_each_operator_in_one_part(name, part):
    assert profile.category(name) == part


def test_profile_split_adds_up_to_the_operators_time_and_prints_a_share_per_part():
    import torch

    net = torch.nn.Conv2d(3, 8, 3)
    x = torch.rand(1, 3, 32, 32)
    wall, parts = profile.split(lambda: net(x).sum().backward(), steps=2)
    assert wall > 0 and parts["convolution backward"] > 0 and parts["convolution forward"] > 0
    lines = profile.table("conv", wall, parts).splitlines()
    assert lines[1:3] == ["| part | ms/step | share |", "|---|---|---|"]
    shares = [float(ln.strip("| ").split(" | ")[-1].rstrip("%")) for ln in lines[3:]]
    assert len(shares) == len(parts) and abs(sum(shares) - 100) < 0.5


def test_quick_refuses_the_official_code_which_has_no_unet_32(tmp_path):
    for name in ("train.py", "test.py"):
        (tmp_path / name).write_text("")
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "benchmark.py"), "--end-to-end", "--quick", "--official", str(tmp_path)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == ("--quick times ours alone: its unet_32 is not a generator of the official code; "
                                            "leave out --official")


def test_int8_probe_prints_the_four_paths_and_their_distance_from_fp32():
    pytest.importorskip("onnxruntime")
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "int8_probe.py"), "--size", "32", "--ngf", "8", "--images", "8",
                           "--calibrate", "4", "--repeats", "1", "--threads", "1"],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert re.match(r"CPU: .+; torch \S+, onnxruntime \S+, 1 threads$", lines[0]), lines[0]
    rows = [ln.split(" | ") for ln in lines if ln.startswith("| ") and not ln.startswith("| path")]
    assert [r[0] for r in rows] == ["| torch fp32", "| torch bf16", "| onnxruntime fp32", "| onnxruntime int8"]
    assert rows[0][3:5] == ["1.00x", "0.00"]
    assert 0 < float(rows[3][4]) < 10  # int8 moves outputs by a few levels of 255, not by nothing and not by a lot
