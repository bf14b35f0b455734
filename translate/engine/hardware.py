"""Devices, precision, seeding and RNG state, and the CPU allocator setting the engine applies."""

from __future__ import annotations

import contextlib
import random
import warnings
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from translate.errors import ArgumentError, ArgumentWarning

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name: str) -> torch.device:
    """``auto`` (CUDA, else MPS, else CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``; an unavailable one is
    an ArgumentError naming ``device``."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    bad = ArgumentError("{device} must be auto, cpu, cuda, cuda:N or mps, not '{value}'", "device", value=name)
    try:
        device = torch.device(name)
    except RuntimeError:
        raise bad from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ArgumentError("{device} {value}: no CUDA device is available here; use {device}=cpu or auto", "device", value=name)
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise ArgumentError(f"{{device}} {{value}}: only {count} CUDA device(s); use cuda:0..cuda:{count - 1}", "device", value=name)
    elif device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ArgumentError("{device} mps: MPS is not available here; use {device}=cpu or auto", "device")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise bad
    return device


_TUNED = False


def tune_cpu_allocator() -> None:
    """Keep freed activation buffers in the heap instead of returning them to the OS, so a training
    step does not page-fault its working memory back in every iteration (glibc only; no-op elsewhere)."""
    global _TUNED
    if _TUNED:
        return
    _TUNED = True
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 * 2**20)  # M_MMAP_THRESHOLD: serve blocks up to 32 MiB from the heap
        libc.mallopt(-1, 2**30)  # M_TRIM_THRESHOLD: trim the heap only past 1 GiB free
    except (OSError, AttributeError):
        pass


CPUINFO = Path("/proc/cpuinfo")
NATIVE_BF16 = ("avx512_bf16", "amx_bf16")  # CPU flags of bf16 arithmetic in hardware


def cpu_flags() -> frozenset[str]:
    """The ISA flags of the CPU (``avx2``, ``avx512f``, ``avx512_bf16``, ``amx_bf16``, ...) from /proc/cpuinfo;
    empty where it cannot be read (not Linux)."""
    try:
        text = CPUINFO.read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def native_bf16() -> bool:
    """The CPU has bf16 arithmetic (AVX512-BF16 or AMX); False where its flags cannot be read."""
    return any(f in cpu_flags() for f in NATIVE_BF16)


def warn_emulated_bf16(device: torch.device, precision: str) -> bool:
    """bf16 on a CPU whose flags are known and hold no bf16 arithmetic (no AVX512-BF16, no AMX) is emulated
    in fp32 and slower than fp32 itself: say so with an ArgumentWarning. True when it warned."""
    if device.type != "cpu" or precision != "bf16":
        return False
    if not cpu_flags() or native_bf16():
        return False
    warnings.warn(ArgumentWarning("{precision} bf16 is emulated on this CPU (it has neither AVX512-BF16 nor AMX), "
                                  "so it is slower than fp32 here; use {precision} fp32", "precision"), stacklevel=2)
    return True


def _probe(x: torch.Tensor) -> torch.Tensor:
    return torch.relu(x * 2.0 + 1.0)


def _reason(exc: Exception) -> str:
    """The first line of a compiler failure, short enough for a one-line note."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]


def _warn_uncompiled(reason: str, what: str) -> None:
    warnings.warn(ArgumentWarning("{compile}: torch.compile is not usable here ({reason}); " + what + " uncompiled",
                                  "compile", reason=reason), stacklevel=3)


def _compiler_unusable(device: torch.device) -> str | None:
    """Why torch.compile cannot run on ``device`` here (its first line), or None: tried on a tiny function."""
    try:
        torch.compile(_probe)(torch.ones(8, device=device))
    except Exception as exc:  # noqa: BLE001 -- any failure of the compiler means: run uncompiled
        return _reason(exc)
    return None


def compile_networks(networks: Iterable[torch.nn.Module], device: torch.device) -> bool:
    """Compile each network in place with ``torch.compile`` (``Module.compile``: its state-dict keys stay those
    of the plain network, so checkpoints load uncompiled). The compiler is first tried on a tiny function
    on ``device``; when it is missing or fails, an ArgumentWarning names ``compile`` and the networks run
    uncompiled. True when compiled."""
    networks = list(networks)
    reason = _compiler_unusable(device)
    if reason is None:
        try:
            for net in networks:
                net.compile()
        except Exception as exc:  # noqa: BLE001
            reason = _reason(exc)
    if reason is not None:
        for net in networks:
            net._compiled_call_impl = None  # what Module.compile set, if it got that far
        _warn_uncompiled(reason, "training runs")
        return False
    return True


@contextlib.contextmanager
def compiled_inference(fn, device: torch.device):
    """A block in which ``fn`` (a function of tensors that runs networks, called under ``torch.no_grad``) is
    yielded compiled for inference: torch.compile with inductor's weight freezing (the weights become constants
    of the compiled code, so convolution weights are laid out for the CPU's kernels once, not at every call)
    and ``fallback_random`` (dropout draws the numbers uncompiled code draws, so a seed gives the same output).
    Where the compiler is missing, or fails on a call, ``fn`` runs uncompiled after an ArgumentWarning
    naming ``compile``. Compiled state is dropped when the block ends (``torch.compiler.reset``): frozen weights
    would otherwise stay in the compiled code if the networks changed afterwards. That reset drops every compiled
    function of the process, not only this one: others compile again on their next call."""
    import torch._inductor.config as inductor

    reason = _compiler_unusable(device)
    if reason is not None:
        _warn_uncompiled(reason, "converting")
        yield fn
        return
    compiled = torch.compile(fn)

    def call(*args):
        nonlocal compiled
        try:
            return compiled(*args)
        except torch.OutOfMemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 -- the compiler failed, or the function's own error: the plain function
            if compiled is fn:    # tells them apart (it raises its own errors, without the note)
                raise
            out = fn(*args)
            _warn_uncompiled(_reason(exc), "converting")
            compiled = fn
            return out

    try:
        with inductor.patch(freezing=True, fallback_random=True):
            yield call
    finally:
        torch.compiler.reset()


def autocast(device: torch.device, precision: str):
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=DTYPES[precision])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
