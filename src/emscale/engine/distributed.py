"""Running passes on a Dask distributed cluster (the existing engine; emscale adds no cluster of its own).

Each partition becomes one task on the cluster; a task reads its own partition (from the shared zarr store when
the signal is zarr-backed) and returns the partial result. Partials are gathered and merged in partition order on
the client, so the result is identical to the local executors'. A task lost with its worker is re-run by dask.
"""

from __future__ import annotations

from .executors import Executor, use_executor


class DaskExecutor(Executor):
    name = "dask"

    def __init__(self, client):
        self.client = client

    def map(self, fn, items, on_done=None):
        from distributed import as_completed

        items = list(items)
        # pure=False: the same partition may be computed again after a worker loss; keys must not collide
        # across passes either.
        futures = self.client.map(fn, items, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        out = [None] * len(items)
        for fut in as_completed(futures):
            i = index[fut.key]
            out[i] = fut.result()
            if on_done:
                on_done(i)
        return out

    def __repr__(self) -> str:
        return f"<DaskExecutor {self.client.scheduler.address if self.client.scheduler else '?'}>"


def use_cluster(address: str | None = None, local: int | None = None, **cluster_kwargs) -> DaskExecutor:
    """Run every pass on a Dask distributed cluster from now on.

    ``use_cluster("tcp://host:8786")`` connects to a running scheduler; ``use_cluster(local=N)`` starts a
    ``LocalCluster`` of N single-threaded worker processes on this machine. Returns the executor; its
    ``client`` can be closed when done (``use_executor("threads")`` goes back to local threads).
    """
    from distributed import Client, LocalCluster

    if (address is None) == (local is None):
        raise ValueError("give either a scheduler address or local=N workers")
    if address is not None:
        client = Client(address)
    else:
        cluster = LocalCluster(
            n_workers=int(local), threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None, **cluster_kwargs,
        )
        client = Client(cluster)
    ex = DaskExecutor(client)
    use_executor(ex)
    return ex
