"""Where independent tasks run: in this process or on dask.distributed.

Monte Carlo replications (:mod:`spillover.montecarlo`), the study's
specification grid (:mod:`spillover.study.grid`) and the bootstraps of the
threshold and mediation analyses are lists of independent tasks. They all go
through :class:`Engine`::

    with Engine(n_workers=2) as eng:              # a LocalCluster, 2 workers
        out = eng.map(fit_one, tasks, shared={"w": W})

    with Engine(scheduler="tcp://host:8786") as eng:   # an existing cluster
        ...

    Engine()                                    # no cluster: tasks run here, in order

Determinism. ``map`` returns results in the order of ``tasks`` whatever the
number of workers or the order tasks finish in, random work is seeded per
task (:func:`chunk_seeds`: one child of ``numpy.random.SeedSequence(seed)``
per fixed-size chunk of replications), and every task runs with one BLAS
thread (``threadpoolctl``; the thread count can change the last bits of
dense linear algebra), so the numbers are identical with 0, 1 or 4 workers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

__all__ = ["Engine", "chunk_seeds", "bootstrap_map", "DEFAULT_CHUNK"]

#: Replications per task in the bootstraps; fixed so that seeds do not depend on the number of workers.
DEFAULT_CHUNK = 50


def chunk_seeds(seed: int | np.random.SeedSequence | None, total: int,
                chunk: int = DEFAULT_CHUNK) -> list[tuple[np.random.SeedSequence, int]]:
    """Split ``total`` replications into chunks of ``chunk`` with one spawned ``SeedSequence`` each.

    Chunk ``k`` always gets child ``k`` of ``SeedSequence(seed)`` and the same
    size, so a replication's draws depend only on ``seed``, never on how the
    chunks are distributed.
    """
    if total <= 0:
        return []
    sizes = [min(chunk, total - a) for a in range(0, total, chunk)]
    if isinstance(seed, np.random.SeedSequence):  # a fresh copy: spawn() must not depend on earlier calls
        root = np.random.SeedSequence(seed.entropy, spawn_key=seed.spawn_key, pool_size=seed.pool_size)
    else:
        root = np.random.SeedSequence(seed)
    children = root.spawn(len(sizes))
    return list(zip(children, sizes, strict=True))


class Engine:
    """Run lists of independent tasks serially or on dask.distributed.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running dask scheduler (``"tcp://host:8786"``).
    n_workers : int
        0 (default, without ``scheduler``): run in this process, no cluster.
        >= 1: start a :class:`distributed.LocalCluster` with that many workers
        (one thread each) for the lifetime of the ``with`` block. Ignored when
        ``scheduler`` is given.
    processes : bool
        LocalCluster workers as processes (True) or threads of this process.
    progress : bool or callable
        ``True`` shows a rich progress bar per :meth:`map`; a callable is
        called as ``progress(done, total)``.
    """

    def __init__(self, scheduler: str | None = None, n_workers: int = 0, processes: bool = False,
                 progress: bool | Callable[[int, int], None] = False) -> None:
        if n_workers < 0:
            raise ValueError(f"n_workers must be >= 0, got {n_workers}")
        self.scheduler, self.n_workers, self.processes, self.progress = scheduler, n_workers, processes, progress
        self._client = None
        self._cluster = None

    # -- lifetime -------------------------------------------------------------------
    @property
    def distributed(self) -> bool:
        return self.scheduler is not None or self.n_workers > 0

    def __enter__(self) -> Engine:
        if self.distributed and self._client is None:
            from distributed import Client, LocalCluster

            if self.scheduler is None:
                self._cluster = LocalCluster(n_workers=self.n_workers, threads_per_worker=1,
                                             processes=self.processes, dashboard_address=":0")
                self._client = Client(self._cluster)
            else:
                self._client = Client(self.scheduler)
            if self.scheduler is not None or self.processes:
                self._client.run(_single_blas_thread)  # worker processes: one BLAS thread for good
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    @property
    def workers(self) -> int:
        """Number of workers tasks run on (1 in-process)."""
        if self._client is None:
            return 1
        return len(self._client.scheduler_info().get("workers", {}))

    def describe(self) -> str:
        if not self.distributed:
            return "in-process (no cluster)"
        where = self.scheduler or f"LocalCluster, {self.n_workers} {'process' if self.processes else 'thread'} worker(s)"
        return f"dask.distributed ({where})"

    # -- work -----------------------------------------------------------------------
    def map(self, fn: Callable[..., Any], tasks: Sequence, *, shared: dict | None = None, name: str = "tasks") -> list:
        """``[fn(task, **shared) for task in tasks]``, in task order, run where the engine says.

        ``shared`` objects (e.g. a weights matrix) are sent to each worker once.
        """
        tasks = list(tasks)
        shared = dict(shared or {})
        total = len(tasks)
        bar, report = self._progress(total, name)
        # Every task runs with one BLAS thread, wherever it runs: the same floating-point path in-process and
        # on workers (identical numbers), and k workers x multi-threaded BLAS would oversubscribe the cores
        # (small dense algebra was ~70x slower). Process-wide while map runs (thread workers live here).
        limits = threadpool_limits(limits=1)
        try:
            if not self.distributed:
                out = []
                for i, task in enumerate(tasks, 1):
                    out.append(fn(task, **shared))
                    if report:
                        report(i, total)
                return out
            if self._client is None:
                with self:
                    return self.map(fn, tasks, shared=shared, name=name)
            from distributed import as_completed

            client = self._client
            sfut = {k: client.scatter(v, broadcast=True, hash=False) for k, v in shared.items()}
            futures = [client.submit(fn, task, pure=False, **sfut) for task in tasks]
            position = {f.key: i for i, f in enumerate(futures)}
            out: list = [None] * total
            for done, fut in enumerate(as_completed(futures), 1):
                out[position[fut.key]] = fut.result()
                if report:
                    report(done, total)
            return out
        finally:
            limits.restore_original_limits()
            if bar is not None:
                bar.stop()

    def _progress(self, total: int, name: str):
        if self.progress is True and total > 0:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            bar = Progress(TextColumn(f"[bold]{name}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
            task = bar.add_task(name, total=total)
            bar.start()
            return bar, lambda done, _total: bar.update(task, completed=done)
        if callable(self.progress):
            return None, self.progress
        return None, None


def _single_blas_thread() -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)


def _bootstrap_chunk(task, *, fn, payload):
    child, size = task
    return np.asarray(fn(np.random.default_rng(child), size, payload))


def bootstrap_map(fn: Callable[[np.random.Generator, int, Any], np.ndarray], total: int,
                  seed: int | np.random.SeedSequence | None,
                  payload: Any = None, *, engine: Engine | None = None, chunk: int = DEFAULT_CHUNK,
                  name: str = "bootstrap") -> np.ndarray:
    """Run ``total`` bootstrap replications in seeded chunks and concatenate them in chunk order.

    ``fn(rng, size, payload)`` returns the ``size`` statistics of one chunk
    (along the first axis). ``payload`` holds the data, sent to each worker once.
    """
    eng = engine or Engine()
    parts = eng.map(_bootstrap_chunk, chunk_seeds(seed, total, chunk), shared={"fn": fn, "payload": payload},
                    name=name)
    return np.concatenate(parts) if parts else np.empty(0)
