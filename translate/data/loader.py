"""Training batches read ahead of the step, so decoding, resizing and cropping overlap the training.

``workers`` > 0: DataLoader processes, each ``PREFETCH`` batches ahead, kept across a rollback, with
batches in pinned memory for CUDA. ``workers`` 0: a background thread of the training process reads
``READ_AHEAD`` batches ahead (PIL, cv2 and torch release the GIL while they decode and resize, so on a
machine with few cores it overlaps the step without processes that compete with torch's compute
threads). Either way the batches are the sampler's keys in order, and each sample is a pure function of
(seed, key), so the batches are the same whatever the worker count, and memory stays bounded by the
small fixed depth."""

from __future__ import annotations

import queue
import threading
from typing import Any, Iterable, Iterator

import torch
from torch.utils.data import DataLoader, Dataset

READ_AHEAD = 2  # batches a read-ahead thread holds ready
PREFETCH = 2  # batches each loader process holds ready


def default_workers(device_type: str) -> int:
    """Loader processes when the run does not choose: none on CPU (the read-ahead thread overlaps the
    step there without taking cores from torch), otherwise up to 8."""
    return 0 if device_type == "cpu" else min(8, torch.get_num_threads())


class ReadAhead:
    """Iterate ``source`` in a daemon thread, at most ``depth`` items ahead; ``depth`` 0 reads in the caller's
    thread. An exception raised while reading is raised by ``next`` in the caller. ``restart`` begins a new
    pass over ``source`` (a resumable sampler starts it at its current ``start``); ``close`` (or the end of
    a ``with`` block) stops the thread."""

    _END = object()

    def __init__(self, source: Iterable, depth: int = READ_AHEAD):
        self.source, self.depth = source, depth
        self._thread: threading.Thread | None = None
        self.restart()

    def restart(self) -> None:
        self.close()
        self._items = iter(self.source)
        if self.depth > 0:
            self._queue: queue.Queue = queue.Queue(self.depth)
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._run, name="read-ahead", daemon=True)
            self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for item in self._items:
                if not self._put((True, item)):
                    return
            self._put((True, self._END))
        except BaseException as exc:  # noqa: BLE001 -- handed to the caller, raised there
            self._put((False, exc))

    def __iter__(self) -> Iterator:
        return self

    def __next__(self) -> Any:
        if self._thread is None:
            return next(self._items)
        ok, item = self._queue.get()
        if not ok:
            raise item
        if item is self._END:
            raise StopIteration
        return item

    def close(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None

    def __enter__(self) -> "ReadAhead":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def batch_loader(dataset: Dataset, sampler, workers: int, device_type: str, seed: int) -> DataLoader:
    """The DataLoader of a training run: ``sampler`` yields the keys of each batch (``ResumableBatchSampler``);
    batches for CUDA come in pinned memory, so the copy to the device can be non-blocking."""
    return DataLoader(dataset, batch_sampler=sampler, num_workers=workers, pin_memory=device_type == "cuda",
                      persistent_workers=workers > 0,
                      generator=torch.Generator().manual_seed(seed), prefetch_factor=PREFETCH if workers else None)


def read_batches(loader: DataLoader, depth: int = READ_AHEAD) -> ReadAhead:
    """An iterator over ``loader`` from its sampler's current start, read ahead of the caller: by the loader's
    processes when it has them, else by a thread ``depth`` batches ahead (``depth`` 0: in the caller). Use it
    in a ``with`` block, which stops the thread."""
    return ReadAhead(loader, 0 if loader.num_workers else depth)
