"""Where a build's tasks run: local processes, or a Ray cluster.

A task is a plain function of a small, picklable job that reads and writes
files (through ``Store``) and returns a small result; text never travels
between processes or through Ray's object store. Both engines return results
in job order, so everything downstream is the same whichever ran the tasks.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Protocol

from dataprep.errors import DataprepError, named
from dataprep.io.lifeline import bind_to_parent

ENGINES = ("local", "ray")


class Engine(Protocol):
    """Runs a build's tasks: ``map`` gives ``fn(job)`` for every job, in job order."""

    name: str
    workers: int

    def map(self, fn: Callable, jobs: Sequence, inline: bool = False) -> Iterator: ...

    def close(self) -> None: ...


class LocalEngine:
    """Tasks in a pool of local processes, started at the first map and kept until ``close``, so the
    scan and the band tasks of a build pay for starting workers once."""

    name = "local"

    def __init__(self, workers: int | None = None):
        self.workers = workers or os.cpu_count() or 1
        self._pool: ProcessPoolExecutor | None = None
        self._older: set = set()  # child processes that are not the pool's

    def map(self, fn: Callable, jobs: Sequence, inline: bool = False) -> Iterator:
        """Results of ``fn(job)`` in job order; a lone job, or jobs too small to be worth starting
        workers for (``inline``), run in this process, with no pool at all."""
        if inline or self.workers <= 1 or len(jobs) <= 1:
            yield from (fn(job) for job in jobs)
            return
        try:
            with children_ignore_ctrl_c():  # every job is submitted here, so every worker starts here
                futures = [self._started().submit(fn, job) for job in jobs]
            # Results are read future by future, not through Executor.map, which on an exception cancels
            # the pending futures from this thread while the pool's own thread, finding its workers
            # terminated, fails on them with a traceback of its own (Python 3.11).
            for future in futures:
                yield future.result()
        except BaseException:
            self._abort()  # Ctrl-C, an error, or a consumer that stopped early: running tasks are not awaited
            raise

    def _started(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._older = set(multiprocessing.active_children())
            # spawn, not fork: polars and the tokenizer keep thread pools that a fork would copy mid-flight.
            # Workers die with this process, even when it alone is killed (lifeline.py).
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=bind_to_parent, initargs=(os.getpid(),))
        return self._pool

    def _abort(self) -> None:
        if self._pool is None:
            return
        for process in set(multiprocessing.active_children()) - self._older:
            process.terminate()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


@contextmanager
def children_ignore_ctrl_c():
    """Processes started inside this block ignore SIGINT for life (the disposition survives exec).

    Ctrl-C signals the whole foreground process group; without this every
    worker would print its own KeyboardInterrupt traceback. The parent alone
    is interrupted and stops its children itself. The cost: a Ctrl-C in the
    few milliseconds the block lasts is ignored here too (the disposition is
    process-wide), and the user presses it again.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class RayEngine:
    """Tasks as Ray remote functions; a task whose worker dies is run again (``max_retries``)."""

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None, max_retries: int = 3):
        try:
            import ray
        except ImportError:
            raise DataprepError("--engine ray needs: pip install 'dataprep[ray]'") from None
        self.ray = ray
        self.max_retries = max_retries
        self.started_here = not ray.is_initialized()
        if self.started_here:
            kwargs = {"address": address} if address else {"num_cpus": workers or os.cpu_count() or 1}
            try:
                ray.init(include_dashboard=False, log_to_driver=False, **kwargs)
            except Exception as exc:  # ConnectionError and Ray's own types
                raise DataprepError(f"cannot start or reach Ray ({address or 'local'}): {exc}") from None
        self.workers = int(ray.cluster_resources().get("CPU", 1))

    def map(self, fn: Callable, jobs: Sequence, inline: bool = False) -> Iterator:
        if inline:  # too small to be worth a round trip through the cluster
            yield from (fn(job) for job in jobs)
            return
        remote = self.ray.remote(fn).options(max_retries=self.max_retries, retry_exceptions=False)
        refs = [remote.remote(job) for job in jobs]
        for ref in refs:
            try:
                yield self.ray.get(ref)
            except self.ray.exceptions.RayTaskError as exc:
                cause = exc.cause if isinstance(exc.cause, DataprepError) else None
                raise cause or DataprepError(f"a Ray task failed: {exc.cause!r}") from None
            except self.ray.exceptions.RayError as exc:
                raise DataprepError(f"a Ray task failed after {self.max_retries} retries: {type(exc).__name__}") from None

    def close(self) -> None:
        if self.started_here:
            self.ray.shutdown()


def make_engine(name: str, workers: int | None = None, address: str | None = None) -> Engine:
    """The engine ``name`` with ``workers`` processes (None: one per core; on Ray, the cluster's CPUs)."""
    if workers is not None and workers < 1:
        raise DataprepError(f"{named('workers')} must be at least 1, not {workers}")
    if name == "local":
        return LocalEngine(workers)
    if name == "ray":
        return RayEngine(address, workers)
    raise DataprepError(f"unknown engine {name!r}; choose from {', '.join(ENGINES)}")
