"""The ``ray`` backend of the sweep runner: each cell one Ray task on a local cluster (started for the
sweep, on 127.0.0.1, and shut down after it) or on an existing cluster joined by address.

A task requests its cell's ``num_cpus`` / ``num_gpus`` (fractional GPUs let small cells share a device)
and always runs the cell with ``resume=True``: Ray retries a task whose worker died (``max_retries``),
and the retry continues from the cell's own checkpoint instead of starting over, so no metrics line is
written twice. Exceptions raised by the cell are not retried (they would fail again); the sweep records
them. Workers get the driver's Python path (an editable or ``PYTHONPATH`` install works) and do not
preallocate GPU memory, so several cells fit on one device.
"""

import contextlib
import math
import os
import pathlib
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence

from ._attempts import CellOutcome, attempt_cell, count_attempts, write_error
from ._cell import Cell, kind_runner

_MIN_RAY = (2, 9)


def check_ray():
    """The ``ray`` module, or a one-line ``ValueError`` saying how to install it."""
    try:
        import ray  # the optional extra awmkit[ray], imported only when a sweep asks for it
    except ImportError:
        raise ValueError("backend 'ray' needs Ray: pip install 'awmkit[ray]' (or use 'local')") from None
    version = tuple(int(p) for p in ray.__version__.split(".")[:2] if p.isdigit())
    if version < _MIN_RAY:
        raise ValueError(f"backend 'ray' needs ray>=2.9, found {ray.__version__}: pip install 'awmkit[ray]'")
    return ray


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _python_path() -> str:
    """The driver's import path minus the interpreter's own directories (which workers have anyway)."""
    own = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    entries = []
    for p in [*os.environ.get("PYTHONPATH", "").split(os.pathsep), *sys.path]:
        if not p:
            p = os.getcwd()
        p = os.path.abspath(p)
        real = os.path.realpath(p)
        if os.path.isdir(p) and p not in entries and not any(real.startswith(o + os.sep) for o in own):
            entries.append(p)
    return os.pathsep.join(entries)


def runtime_env() -> dict:
    """What every task's worker gets: the driver's Python path, and no GPU memory preallocation."""
    return {"env_vars": {"PYTHONPATH": _python_path(), "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}}


@contextlib.contextmanager
def _loopback_env() -> Iterator[None]:
    """While a local cluster starts: bind it to 127.0.0.1 and send no usage statistics.

    Ray binds a local cluster to the machine's outward IP unless told clusters are off (the switch it
    uses on macOS and Windows); the processes it starts inherit the environment set here."""
    import ray._private.ray_constants as constants  # optional extra: only with backend='ray'

    names = ("RAY_USAGE_STATS_ENABLED", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")
    saved_env = {k: os.environ.get(k) for k in names}
    saved_flag = getattr(constants, "ENABLE_RAY_CLUSTER", None)
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    if saved_flag is not None:  # read when Ray was imported: set it for this process too
        constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        if saved_flag is not None:
            constants.ENABLE_RAY_CLUSTER = saved_flag
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _is_loopback(address: str) -> bool:
    host = address.split("://")[-1].rsplit(":", 1)[0].strip("[]")
    return host in ("127.0.0.1", "localhost", "::1")


@contextlib.contextmanager
def ray_cluster(cells: Sequence[Cell], address: str | None) -> Iterator[object]:
    """Connects to Ray for a sweep: the session already open in this process, the cluster at
    `address`, or a new local cluster (CPUs capped to this machine's, no dashboard, a temporary
    directory under /tmp) that is shut down on exit. Refuses, before anything runs, a cell that
    requests more CPUs or GPUs than the cluster has (it would wait forever)."""
    ray = check_ray()
    started, temp_dir = False, None
    if ray.is_initialized():
        if address is not None:
            raise ValueError("Ray is already initialised in this process; drop `address` to use that session")
    elif address is not None:
        # A driver finds its node by IP: joining a cluster on 127.0.0.1 it must not take the outward one.
        local = _is_loopback(address)
        with _loopback_env() if local else contextlib.nullcontext():
            ray.init(address=address, include_dashboard=False)
        started = True
    else:
        wanted = max(math.ceil(sum(c.num_cpus for c in cells)), math.ceil(max(c.num_cpus for c in cells)))
        # A short path: Ray's socket paths live under it and must stay below the Unix limit of 107 bytes.
        temp_dir = tempfile.mkdtemp(prefix="awmkit-ray-", dir="/tmp")
        with _loopback_env():
            ray.init(
                address="local",
                num_cpus=max(1, min(wanted, _usable_cpus())),
                include_dashboard=False,
                object_store_memory=128 * 1024**2,  # results are small dicts; the store holds nothing big
                _temp_dir=temp_dir,
            )
        started = True
    try:
        total = ray.cluster_resources()
        for c in cells:
            for resource, need in (("CPU", c.num_cpus), ("GPU", c.num_gpus)):
                if need > total.get(resource, 0.0):
                    raise ValueError(
                        f"cell {c.name!r} requests num_{resource.lower()}s={need:g} but the Ray cluster has "
                        f"{total.get(resource, 0.0):g} {resource}s; lower it or join a bigger cluster "
                        "(--address)"
                    )
        yield ray
    finally:
        if started:
            ray.shutdown()
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)


def _task(cell: Cell, run_dir: str, runner: Callable, loggers: Sequence = ()) -> dict:
    """The body of a cell's Ray task, in the worker process (which builds the cell's own loggers)."""
    return attempt_cell(cell, run_dir, runner, loggers)


def run_ray(
    cells: Sequence[Cell],
    out: pathlib.Path,
    *,
    ray,
    max_retries: int,
    on_done: Callable,
    loggers: Sequence = (),
) -> None:
    """Submits every cell as a task of the connected Ray session and reports each outcome (through
    ``on_done``) as it finishes, failures included."""
    remote = ray.remote(_task)
    env = runtime_env()
    pending: dict = {}
    before: dict[str, int] = {}
    for cell in cells:
        run_dir = out / "cells" / cell.name
        before[cell.name] = count_attempts(run_dir)
        ref = remote.options(
            num_cpus=cell.num_cpus,
            num_gpus=cell.num_gpus,
            max_retries=max_retries,
            retry_exceptions=False,
            runtime_env=env,
            name=f"awmkit-cell:{cell.name}",
        ).remote(cell, str(run_dir), kind_runner(cell.kind), tuple(loggers))
        pending[ref] = cell
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                cell = pending.pop(ref)
                run_dir = out / "cells" / cell.name
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayTaskError as e:  # the cell raised: it fails for good
                    cause = getattr(e, "cause", None) or e
                    error, details = f"{type(cause).__name__}: {cause}", str(e)
                except ray.exceptions.RayError as e:  # the worker died more than max_retries times
                    error = f"{type(e).__name__}: the cell's worker died (max_retries={max_retries}): {e}"
                    details = str(e)
                else:
                    attempts = count_attempts(run_dir) - before[cell.name]
                    on_done(CellOutcome(cell, "done", result, None, run_dir, attempts))
                    continue
                attempts = count_attempts(run_dir) - before[cell.name]
                write_error(run_dir, cell, error, details, attempts)
                on_done(CellOutcome(cell, "failed", None, error, run_dir, attempts))
    finally:
        for ref in pending:  # interrupted: stop what still runs (a resumed sweep continues it)
            ray.cancel(ref, force=True)
