"""Training on several processes (``torchrun``): the process group, the device of each process, and the
collective operations the trainer needs. The one place that knows of torch.distributed.

``torchrun --nproc-per-node N -m translate fit ...`` starts N processes with WORLD_SIZE, RANK and
LOCAL_RANK set; ``session`` starts the process group (nccl for CUDA tensors, gloo for CPU ones) and destroys it
at the end; ``Distributed.on`` gives each process its device (``cuda:LOCAL_RANK`` on CUDA). Without those variables (or with
WORLD_SIZE 1) nothing changes: ``Distributed()`` is the single process, and every method is a no-op.

Each process computes the gradients of its own shard of the global batch; after each backward the
gradients of the group being optimised are averaged over the processes (one all-reduce per bucket), so
that every process takes the same optimizer step: the same update as one process with the whole global
batch (for losses that are means over the batch). This is what DistributedDataParallel does after the
backward pass, done explicitly so that the GAN step needs no special case: the discriminator frozen in
the generator step, several critic steps per generator step, the gradient penalty's double backward
and models with several generators and discriminators all average exactly the gradients they made.
Every process takes the same decisions (stop, roll back after a non-finite value) from values reduced
over all processes, so none waits for a collective the others skip.
"""

from __future__ import annotations

import dataclasses
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from translate.engine.hardware import resolve_device, seed_everything
from translate.errors import ArgumentWarning, UserError

BUCKET = 2**24  # elements per all-reduce of gradients (64 MB in fp32)


def from_environment(env: dict | None = None) -> tuple[int, int, int]:
    """(world size, rank, local rank) as torchrun sets them; (1, 0, 0) outside torchrun."""
    env = os.environ if env is None else env
    world = int(env.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return 1, 0, 0
    return world, int(env.get("RANK", "0")), int(env.get("LOCAL_RANK", env.get("RANK", "0")))


def process_device(device: torch.device, local_rank: int) -> torch.device:
    """The device of the process with ``local_rank`` on its machine: ``cuda:LOCAL_RANK`` on CUDA (a device
    index given by the user is ignored: torchrun's processes share the machine's GPUs), else ``device``."""
    return torch.device("cuda", local_rank) if device.type == "cuda" else device


@dataclass(frozen=True)
class Distributed:
    """The processes training together; the default is one process, for which every method does nothing."""

    world_size: int = 1
    rank: int = 0
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    def on(self, device_name: str) -> "Distributed":
        """These processes on the run's device: ``resolve_device(device_name)``, on CUDA each process's own
        GPU (see ``process_device``)."""
        device = resolve_device(device_name)
        return dataclasses.replace(self, device=process_device(device, self.local_rank) if self.active else device)

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def writer(self) -> bool:
        """Whether this process writes the run folder, logs, samples and checkpoints (rank 0 only)."""
        return self.rank == 0

    # -- collectives ----------------------------------------------------------------------------
    def average_gradients(self, params: list[nn.Parameter]) -> None:
        """Average the gradients of ``params`` over the processes (parameters without one are skipped; every
        process has the same ones, as it runs the same code on the same model)."""
        if not self.active:
            return
        grads = [p.grad for p in params if p.grad is not None]
        for start in _buckets(grads):
            chunk = grads[start[0]:start[1]]
            flat = torch.cat([g.reshape(-1) for g in chunk])
            dist.all_reduce(flat)
            flat.div_(self.world_size)
            offset = 0
            for g in chunk:
                g.copy_(flat[offset:offset + g.numel()].view_as(g))
                offset += g.numel()

    def any(self, flag: bool) -> bool:
        """True on every process when ``flag`` is True on any (a stop asked of one process stops all)."""
        if not self.active:
            return flag
        t = torch.tensor([int(flag)], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def minimum(self, values: torch.Tensor) -> torch.Tensor:
        """The element-wise minimum of ``values`` over the processes."""
        if not self.active:
            return values
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.MIN)
        return values

    def mean(self, values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each value averaged over the processes (the same keys in the same order on every process)."""
        if not self.active or not values:
            return values
        stacked = torch.stack([v.float().reshape(()) for v in values.values()])
        dist.all_reduce(stacked)
        return dict(zip(values, (stacked / self.world_size).unbind()))

    def broadcast_module(self, module: nn.Module) -> None:
        """Every process takes rank 0's parameters and buffers (the same start wherever they come from)."""
        if not self.active:
            return
        with torch.no_grad():
            for t in list(module.parameters()) + list(module.buffers()):
                dist.broadcast(t.data, src=0)

    def from_rank0(self, compute: Callable[[], Any]) -> Any:
        """``compute()`` on rank 0 (what reads or writes the run folder), its result given to every process.
        An exception on rank 0 is raised there and, as a UserError with its message, on the others, so
        that no process waits for a result that will not come."""
        if not self.active:
            return compute()
        box: list[Any] = [None]
        error: BaseException | None = None
        if self.writer:
            try:
                box[0] = ("ok", compute())
            except BaseException as exc:  # noqa: BLE001 -- passed on to the other processes, raised below
                error, box[0] = exc, ("error", str(exc) or type(exc).__name__)
        dist.broadcast_object_list(box, src=0, device=torch.device("cpu"))  # through gloo: states are loaded on the CPU
        if error is not None:
            raise error
        kind, value = box[0]
        if kind == "error":
            raise UserError(f"rank 0 stopped: {value}")
        return value

    def fork_rng(self, seed: int, step: int) -> None:
        """Give each process other than rank 0 its own random stream, a function of (seed, rank, step): the
        noise, dropout masks and history pools of the processes differ, and a resume at the same world size
        draws what the uninterrupted run drew (rank 0 keeps its stream, which checkpoints save)."""
        if self.rank:
            seed_everything(int(np.random.SeedSequence([seed % 2**32, 7, self.rank, step]).generate_state(1)[0]))


def _buckets(grads: list[torch.Tensor]) -> Iterator[tuple[int, int]]:
    """(start, end) index ranges of ``grads`` of at most BUCKET elements each (a larger tensor alone),
    and of one dtype and device."""
    start, size = 0, 0
    for i, g in enumerate(grads):
        if i > start and (size + g.numel() > BUCKET or g.dtype != grads[start].dtype or g.device != grads[start].device):
            yield start, i
            start, size = i, 0
        size += g.numel()
    if start < len(grads):
        yield start, len(grads)


@contextmanager
def session() -> Iterator[Distributed]:
    """The processes of this run: under torchrun (WORLD_SIZE > 1) a process group is started (gloo for CPU
    tensors, nccl for CUDA ones; destroyed at the end) unless one already is; otherwise the single process.
    The result's device is CPU until ``on`` gives it the run's device."""
    world, rank, local_rank = from_environment()
    if world == 1:
        yield Distributed()
        return
    started = not dist.is_initialized()
    if torch.cuda.is_available() and local_rank < torch.cuda.device_count():
        torch.cuda.set_device(local_rank)
    if started:
        dist.init_process_group("cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo")
    try:
        yield Distributed(world_size=dist.get_world_size(), rank=dist.get_rank(), local_rank=local_rank)
    finally:
        if started and dist.is_initialized():
            dist.destroy_process_group()


def has_batch_norm(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


def batch_norm_warning(module: nn.Module, batch_size: int, world_size: int, device_type: str) -> ArgumentWarning | None:
    """The warning for batch norm with one image per process (the official code's trap with several GPUs), or
    None: on CUDA, SyncBatchNorm takes its statistics over the ``world_size`` images of a step, at the cost of
    a collective at every batch-norm layer; on CPU each process normalises its single image by itself."""
    if world_size <= 1 or batch_size != 1 or not has_batch_norm(module):
        return None
    if device_type == "cuda":
        how = f"SyncBatchNorm takes its statistics over the {world_size} images of a step, one per process"
    else:
        how = "each process normalises its one image by itself (plain batch norm off CUDA), unlike a single process"
    return ArgumentWarning("batch norm with {batch_size} 1 per process on {world} processes: " + how
                           + "; use {batch_size} 2 or more, or {norm} instance", "batch_size", "norm", world=world_size)


def sync_batch_norm(model: nn.Module, attributes: tuple[str, ...], distributed: Distributed) -> None:
    """On CUDA with several processes, the batch-norm layers of the networks in ``attributes`` become
    SyncBatchNorm (the same parameters and buffers, so checkpoints do not change); elsewhere nothing."""
    if not distributed.active or distributed.device.type != "cuda":
        return
    for name in attributes:
        net = getattr(model, name)
        if has_batch_norm(net):
            setattr(model, name, nn.SyncBatchNorm.convert_sync_batchnorm(net))
