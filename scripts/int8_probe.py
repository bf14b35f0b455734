"""Would an int8 conversion pay on this CPU? Times a generator's forward pass the way ``translate convert`` runs it
(batch 1 and 8, 2 threads), in torch fp32 and bf16 (autocast) and in onnxruntime fp32 and int8 (static quantization
of the exported model, QDQ format, per-channel int8 weights, uint8 activations calibrated with min-max on the first
images), and prints the int8 output's distance from fp32 in 8-bit levels.

    python scripts/int8_probe.py                                   # unet_256 at 256, random weights (speed)
    python scripts/int8_probe.py --run runs/facades --folder data/facades/val --size 128   # a trained generator:
                                                                   # speed and the error on those images

Every path runs the generator deterministically (dropout off; batch norm as the run's inference mode sets it), so the
differences are the precision's alone. Needs the onnx extra (onnx, onnxscript, onnxruntime).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench.timing import cpu_info  # noqa: E402


def images(folder: str | None, size: int, n: int) -> torch.Tensor:
    """``n`` inputs in [-1, 1]: the input half (left) of the first A|B files of ``folder``, resized, or smooth noise."""
    if folder is None:
        g = torch.Generator().manual_seed(0)
        x = torch.rand(n, 3, size // 8, size // 8, generator=g)
        return torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear") * 2 - 1
    from translate.data.image_files import load_image, resize, scan_images, to_tensor_range

    out = []
    for path in scan_images(Path(folder))[0][:n]:
        arr = load_image(path, 3)
        if arr.shape[1] == 2 * arr.shape[0]:
            arr = arr[:, arr.shape[1] // 2:]  # facades: B|A files, the labels (the run's input, BtoA) on the right
        out.append(to_tensor_range(resize(arr, size, size)))
    return torch.stack(out)


def median_time(fn, x: torch.Tensor, repeats: int) -> float:
    fn(x)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) / len(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", help="a run folder (its generator); default: a unet_256 with random weights")
    parser.add_argument("--folder", help="images to calibrate on and to measure the error on (A|B files: the right half)")
    parser.add_argument("--size", type=int, default=256, help="image size (without --run: the U-Net for it, unet_256 at 256)")
    parser.add_argument("--ngf", type=int, default=64, help="without --run: the U-Net's first-layer filters")
    parser.add_argument("--calibrate", type=int, default=16, help="images used to calibrate the int8 model")
    parser.add_argument("--images", type=int, default=100, help="images the error is measured on")
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static

    torch.set_num_threads(args.threads)
    if args.run:
        from translate.api import load_run

        net = load_run(args.run)[0].eval()
        wrapped = lambda x: net.translate(x)  # noqa: E731
    else:
        from translate.nn.layers import init_weights, set_mode
        from translate.nn.unet import UnetGenerator, unet_depth

        torch.manual_seed(0)
        net = set_mode(init_weights(UnetGenerator(3, 3, unet_depth("auto", args.size), args.ngf, "batch", True)), "paper").eval()
        wrapped = net

    class Wrap(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x):
            return wrapped(x)

    data = images(args.folder, args.size, max(args.images, args.calibrate, 8))
    name, isa = cpu_info(Path("/proc/cpuinfo").read_text())
    print(f"CPU: {name} ({', '.join(isa)}); torch {torch.__version__}, onnxruntime {ort.__version__}, {args.threads} threads")
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        fp32, int8 = Path(tmp) / "g.onnx", Path(tmp) / "g8.onnx"
        with contextlib.redirect_stdout(io.StringIO()):  # the exporter's progress lines
            torch.onnx.export(Wrap(), (data[:1],), str(fp32), input_names=["x"], output_names=["y"],
                              dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1, max=64)}}, dynamo=True)

        class Reader(CalibrationDataReader):
            def __init__(self):
                self.items = iter([{"x": data[i:i + 1].numpy()} for i in range(args.calibrate)])

            def get_next(self):
                return next(self.items, None)

        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            quantize_static(str(fp32), str(int8), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            calibrate_method=CalibrationMethod.MinMax)
        quantize_s = time.perf_counter() - t0
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = args.threads
        s32 = ort.InferenceSession(str(fp32), opts, providers=["CPUExecutionProvider"])
        s8 = ort.InferenceSession(str(int8), opts, providers=["CPUExecutionProvider"])

        def ort_run(session):
            return lambda x: torch.from_numpy(session.run(None, {"x": x.numpy()})[0])

        def bf16(x):
            with torch.autocast("cpu", torch.bfloat16):
                return wrapped(x).float()

        paths = {"torch fp32": wrapped, "torch bf16": bf16, "onnxruntime fp32": ort_run(s32), "onnxruntime int8": ort_run(s8)}
        print(f"generator at {args.size}x{args.size}; int8 quantized in {quantize_s:.1f} s on {args.calibrate} images\n")
        print("| path | s/image, batch 1 | s/image, batch 8 | vs torch fp32 (batch 8) | mean abs diff from fp32, 8-bit levels | max |")
        print("|---|---|---|---|---|---|")
        ref = torch.cat([wrapped(data[i:i + 8]) for i in range(0, args.images, 8)])
        base = None
        for label, fn in paths.items():
            t1, t8 = median_time(fn, data[:1], args.repeats), median_time(fn, data[:8], args.repeats)
            base = base or t8
            out = torch.cat([fn(data[i:i + 8]) for i in range(0, args.images, 8)])
            levels = ((out.clamp(-1, 1) + 1) * 127.5).round() - ((ref.clamp(-1, 1) + 1) * 127.5).round()
            print(f"| {label} | {t1:.4f} | {t8:.4f} | {base / t8:.2f}x | {levels.abs().mean():.2f} | {levels.abs().max():.0f} |")


if __name__ == "__main__":
    main()
