"""Running independent jobs (replications, sweep points) side by side.

The seam is one method: ``map(fn, items)`` yielding results in order, like the builtin.
Two implementations: worker processes on this machine (the default), and a Dask
``distributed`` cluster when the user names its scheduler (``--cluster tcp://HOST:PORT``
or ``SQUALL_CLUSTER``).
The local executor uses worker processes forked from a forkserver that has already
imported the simulator (forking this process itself is unsafe: numpy and pyarrow start
threads at import, and a fork can inherit a lock held by one). The forkserver starts
as soon as the executor is made, so its imports overlap whatever the caller does before
``map`` (validating a sweep's points, say). A Dask or Ray cluster can stand in by
implementing the same method. Jobs and results must pickle; jobs carry their scenario
as data, so a worker on another machine needs only Squall installed (its trace files and
run directories live where it runs: use a shared file system to keep them).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import forkserver
from typing import Protocol, TypeVar

from harness.errors import InputError

__all__ = ["CLUSTER_ENV", "DaskExecutor", "Executor", "ProcessExecutor", "SerialExecutor",
           "executor_for", "local_executor"]

#: The environment variable naming a Dask scheduler when ``--cluster`` does not.
CLUSTER_ENV = "SQUALL_CLUSTER"

T = TypeVar("T")
R = TypeVar("R")

PRELOAD = ("harness.execution", "harness.cli.sweep", "harness.sim.engine")


class Executor(Protocol):
    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """``fn`` over ``items``, results in the order of ``items``."""
        ...

    def close(self) -> None:
        """Let go of what the executor holds (a cluster connection)."""
        ...


class SerialExecutor:
    """In this process, one after another (one worker, or a debugger attached)."""

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        return map(fn, items)

    def close(self) -> None:
        return None


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

    def close(self) -> None:
        return None


class DaskExecutor:
    """The workers of a Dask ``distributed`` cluster. Connecting happens here, before
    any job runs: an unreachable or refusing scheduler is bad input (``InputError``
    naming the address), and nothing is half-run."""

    def __init__(self, address: str, timeout: float = 10.0) -> None:
        if "://" not in address:
            raise InputError("a scheduler address looks like tcp://HOST:PORT",
                             source=address)
        try:
            from distributed import Client
        except ImportError:
            raise InputError("running on a cluster needs Dask: pip install "
                             "'squall[cluster]'", source=address) from None
        self.address = address
        try:
            self.client = Client(  # type: ignore[no-untyped-call]
                address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(f"cannot reach the Dask scheduler: {exc}", source=address) \
                from None

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        futures = self.client.map(fn, list(items), pure=False)
        try:
            for future in futures:  # in order; the cluster runs them all meanwhile
                yield future.result()
        except BaseException:
            self.client.cancel(futures)  # type: ignore[no-untyped-call]
            raise

    def close(self) -> None:
        self.client.close()  # type: ignore[no-untyped-call]


def executor_for(workers: int | None, jobs: int, cluster: str | None = None) -> Executor:
    """A cluster's executor when one is named (here or in ``SQUALL_CLUSTER``), else
    local processes."""
    address = cluster or os.environ.get(CLUSTER_ENV)
    if address:
        return DaskExecutor(address)
    return local_executor(workers, jobs)


def local_executor(workers: int | None, jobs: int) -> Executor:
    """Processes for ``jobs`` jobs: ``workers`` of them (default: one per core)."""
    count = min(workers or os.cpu_count() or 1, jobs)
    return SerialExecutor() if count <= 1 else ProcessExecutor(count)
