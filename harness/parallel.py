"""Running independent jobs (replications, sweep points) side by side.

The seam is one method: ``map(fn, items)`` yielding results in order, like the builtin.
The local executor uses worker processes forked from a forkserver that has already
imported the simulator (forking this process itself is unsafe: numpy and pyarrow start
threads at import, and a fork can inherit a lock held by one). The forkserver starts
as soon as the executor is made, so its imports overlap whatever the caller does before
``map`` (validating a sweep's points, say). A Dask or Ray cluster can stand in by
implementing the same method, e.g. with ``client.map(fn, items)`` and
``client.gather``. Jobs and results must pickle.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import forkserver
from typing import Protocol, TypeVar

__all__ = ["Executor", "ProcessExecutor", "SerialExecutor", "local_executor"]

T = TypeVar("T")
R = TypeVar("R")

PRELOAD = ("harness.execution", "harness.cli.sweep", "harness.sim.engine")


class Executor(Protocol):
    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """``fn`` over ``items``, results in the order of ``items``."""
        ...


class SerialExecutor:
    """In this process, one after another (one worker, or a debugger attached)."""

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        return map(fn, items)


class ProcessExecutor:
    """``workers`` processes on this machine."""

    def __init__(self, workers: int, preload: Sequence[str] = PRELOAD) -> None:
        self.workers = workers
        self.context = multiprocessing.get_context("forkserver")
        self.context.set_forkserver_preload(list(preload))
        forkserver.ensure_running()  # start importing now, in the background

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=self.context)
        try:
            yield from pool.map(fn, items)
        except BaseException:
            # Interrupted (SIGINT, SIGTERM) or failed: stop now, not after every queued
            # job. Jobs cut short leave their run directories partial (status running).
            workers = list((getattr(pool, "_processes", None) or {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for proc in workers:
                proc.terminate()
            raise
        finally:
            pool.shutdown(wait=True)


def local_executor(workers: int | None, jobs: int) -> Executor:
    """Processes for ``jobs`` jobs: ``workers`` of them (default: one per core)."""
    count = min(workers or os.cpu_count() or 1, jobs)
    return SerialExecutor() if count <= 1 else ProcessExecutor(count)
