"""Where a training step's time goes: torch.profiler over steps, each operator's own (self) time put in one of a
few categories, so the shares add up to the step."""

from __future__ import annotations

import time

CATEGORIES = (  # first match wins; an operator that matches none is "other"
    ("convolution backward", ("convolution_backward",)),
    ("convolution forward", ("convolution", "conv2d", "conv_transpose")),
    ("GEMM path (im2col + matmul)", ("aten::mm", "aten::addmm", "aten::bmm", "aten::matmul", "im2col", "col2im", "unfold", "fold")),
    ("casts and copies", ("copy_", "_to_copy", "aten::to", "clone", "contiguous")),
    ("normalisation", ("batch_norm", "instance_norm", "layer_norm")),
    ("optimizer (Adam)", ("adam", "Optimizer.", "_foreach_")),
    ("gradient norm (NaN watch)", ("vector_norm", "_foreach_norm", "isfinite")),
    ("activations", ("relu", "threshold", "tanh", "sigmoid", "dropout", "bernoulli")),
)


def category(name: str) -> str:
    low = name.lower()
    for label, keys in CATEGORIES:
        if any(k.lower() in low for k in keys):
            return label
    return "other"


def split(step, steps: int = 4) -> tuple[float, dict[str, float]]:
    """Run ``step()`` ``steps`` times under the profiler: (wall seconds per step, {category: seconds per step})."""
    from torch.profiler import ProfilerActivity, profile

    t0 = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    wall = (time.perf_counter() - t0) / steps
    out: dict[str, float] = {}
    for event in prof.key_averages():
        label = category(event.key)
        out[label] = out.get(label, 0.0) + event.self_cpu_time_total / 1e6 / steps
    return wall, dict(sorted(out.items(), key=lambda kv: -kv[1]))


def table(title: str, wall: float, parts: dict[str, float]) -> str:
    total = sum(parts.values()) or 1.0
    lines = [f"{title}: {wall:.3f} s/step under the profiler (operators' own time, all threads' ops counted once)",
             "| part | ms/step | share |", "|---|---|---|"]
    lines += [f"| {k} | {v * 1e3:.1f} | {100 * v / total:.1f}% |" for k, v in parts.items()]
    return "\n".join(lines)
