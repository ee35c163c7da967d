"""Where the parts of a partitioned solve run: this process, local processes, or Dask.

An executor runs one picklable function over a list of inputs and yields ``(index, result)``
as each finishes, so a caller can show progress. ``LocalProcesses`` is the default (one
process per core, started with ``spawn`` so that no solver state is forked);
``DaskCluster`` sends the same calls to a Dask distributed scheduler, so a nation-wide day
plan scales out on an existing cluster. Which one to use is configuration, decided in ``api``.
"""

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Executor(Protocol):
    """Runs ``fn`` over ``items``; ``workers`` is how many calls run at once."""

    @property
    def workers(self) -> int:
        """How many calls run at the same time."""
        ...

    def run(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R]]:
        """Yield ``(index, fn(items[index]))`` in the order the calls finish."""
        ...


class InProcess:
    """Run the calls one after the other in this process (tests, one part)."""

    @property
    def workers(self) -> int:
        """One call at a time."""
        return 1

    def run(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R]]:
        """Yield each result as it is computed."""
        for index, item in enumerate(items):
            yield index, fn(item)


class LocalProcesses:
    """A pool of local processes, one per usable core unless ``max_workers`` says otherwise."""

    def __init__(self, max_workers: int | None = None) -> None:
        usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        self._workers = max(1, max_workers or usable or os.cpu_count() or 1)

    @property
    def workers(self) -> int:
        """Processes in the pool."""
        return self._workers

    def run(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R]]:
        """Submit every call, then yield results as processes finish them."""
        workers = min(self._workers, max(len(items), 1))
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(fn, item): index for index, item in enumerate(items)}
            for future in as_completed(futures):
                yield futures[future], future.result()


class DaskCluster:
    """Calls on a Dask distributed cluster, given its scheduler address or a ``Client``.

    Parameters
    ----------
    address
        ``tcp://host:port`` of the scheduler; ignored when ``client`` is given.
    client
        An existing ``distributed.Client`` (for example on a ``LocalCluster``).
    """

    def __init__(self, address: str | None = None, client: Any = None) -> None:
        from distributed import Client

        self._client = client if client is not None else Client(address)  # type: ignore[no-untyped-call]
        self._owns_client = client is None

    @property
    def workers(self) -> int:
        """Threads across the cluster's workers (at least one)."""
        threads: dict[str, int] = self._client.nthreads()
        return max(1, sum(threads.values()))

    def run(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R]]:
        """Scatter the calls over the cluster and yield results as workers finish them."""
        from distributed import as_completed as dask_completed

        futures = self._client.map(fn, list(items), pure=False)
        index_of = {future.key: index for index, future in enumerate(futures)}
        for future in dask_completed(futures):  # type: ignore[no-untyped-call]
            yield index_of[future.key], future.result()

    def close(self) -> None:
        """Close the client if this executor opened it."""
        if self._owns_client:
            self._client.close()
