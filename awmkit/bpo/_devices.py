"""How the seeds of a BPO run are laid out on the hardware: groups of seeds vmapped together, run one
group after another, and the groups spread over every local device.

A chunk of a run is ``vmap``-ed over seeds (`awmkit.bpo._train.chunk_traced`). Vmapping many seeds in
one program is not free on a CPU: the batched operands of every op grow with the number of seeds, and
past a couple of seeds they fall out of cache (one 10-seed program measured 3.7x the time of five
groups of 2 for a model and a policy update at H = 20, groups of 1 1.9x: ``benchmarks/seed_groups.py``,
``benchmarks/results/seed_groups_cpu.json``). On a GPU the opposite holds: more seeds per
program fill the device. So the seeds are split into groups of `seed_group_size`, each group vmapped,
the groups run sequentially by a ``lax.scan`` inside the same jitted chunk (``lax.map`` with a batch
size), and, with several local devices, the seeds are first split evenly over the devices with
``jax.shard_map`` (each device scans over its own groups). Grouping and sharding change where and in
what order seeds are computed, never what a seed computes.
"""

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec

from .._gpu_defaults import gpu_default
from ._train import Program, TrainState, chunk_program, chunk_traced

#: The number of seeds vmapped in one group when ``BPOConfig.seed_group_size`` is ``None``, per
#: backend other than a GPU, chosen by ``benchmarks/seed_groups.py`` (CPU). Backends not listed use all
#: seeds; a GPU uses the committed GPU table's ``seed_group_size`` (``awmkit/data/gpu_defaults.json``:
#: ``None``, all seeds of a device in one program, until a ``gpu_tune.py`` result is committed).
DEFAULT_SEED_GROUP_SIZE = {"cpu": 2}


def default_seed_group_size(backend: str | None = None) -> int | None:
    """The measured default group size of `backend` (default: JAX's default backend); ``None``
    means all seeds of a device in one vmapped program."""
    backend = backend or jax.default_backend()
    return gpu_default("seed_group_size", backend, DEFAULT_SEED_GROUP_SIZE.get(backend))


def _largest_divisor(n: int, at_most: int) -> int:
    return max(d for d in range(1, min(n, at_most) + 1) if n % d == 0)


@functools.cache
def _devices_for(num_seeds: int) -> tuple:
    devices = jax.local_devices()
    return tuple(devices[: _largest_divisor(num_seeds, len(devices))])


def seed_layout(num_seeds: int, group_size: int | None) -> tuple[int, int]:
    """``(devices, group)``: how many local devices the seeds are split over (the most that divide
    `num_seeds` evenly) and how many seeds each vmapped group holds (the largest divisor of the
    seeds per device not above `group_size`; all of them when `group_size` is ``None``)."""
    devices = len(_devices_for(num_seeds))
    per_device = num_seeds // devices
    group = per_device if group_size is None else _largest_divisor(per_device, group_size)
    return devices, group


def _grouped(program: Program, state: TrainState, index, group: int):
    """The chunk of every seed in `state` (leading axis), `group` seeds vmapped at a time."""
    arrays, static = eqx.partition(state, eqx.is_array)
    n = jax.tree.leaves(arrays)[0].shape[0]
    if group >= n:
        return chunk_traced(program, state, index)
    grouped = jax.tree.map(lambda x: x.reshape(n // group, group, *x.shape[1:]), arrays)

    def body(carry, arrays):
        new_state, metrics = chunk_traced(program, eqx.combine(arrays, static), index)
        return carry, (eqx.filter(new_state, eqx.is_array), metrics)

    _, (arrays, metrics) = jax.lax.scan(body, None, grouped)
    flat = jax.tree.map(lambda x: x.reshape(n, *x.shape[2:]), (arrays, metrics))
    return eqx.combine(flat[0], static), flat[1]


@eqx.filter_jit
def _chunk(program: Program, state: TrainState, index, group: int, devices: tuple):
    if len(devices) == 1:
        return _grouped(program, state, index, group)
    mesh = Mesh(np.array(devices), ("seeds",))
    state_arrays, state_static = eqx.partition(state, eqx.is_array)
    program_arrays, program_static = eqx.partition(program, eqx.is_array)

    def local(state_arrays, program_arrays, index):
        new_state, metrics = _grouped(
            eqx.combine(program_arrays, program_static), eqx.combine(state_arrays, state_static), index, group
        )
        return eqx.filter(new_state, eqx.is_array), metrics

    seeds, replicated = PartitionSpec("seeds"), PartitionSpec()
    # check_vma=False: the training loop's scans start from constants (replicated) that become
    # per-seed values (varying over the mesh); each device runs independent seeds, nothing is reduced.
    arrays, metrics = jax.shard_map(
        local,
        mesh=mesh,
        in_specs=(seeds, replicated, replicated),
        out_specs=(seeds, seeds),
        check_vma=False,
    )(state_arrays, program_arrays, index)
    return eqx.combine(arrays, state_static), metrics


def run_chunk_on_devices(
    program: Program, state: TrainState, chunk: int, group_size: int | None
) -> tuple[TrainState, dict]:
    """Chunk ``chunk`` of every seed of `state`, laid out by `seed_layout` (the host's hook)."""
    num_seeds = jax.tree.leaves(eqx.filter(state, eqx.is_array))[0].shape[0]
    if group_size is None:
        group_size = default_seed_group_size()
    devices, group = seed_layout(num_seeds, group_size)
    index = jnp.asarray(chunk, jnp.int32)
    if devices == 1 and group == num_seeds:  # all seeds in one program: the plain one
        return chunk_program(program, state, index)
    return _chunk(program, state, index, group, _devices_for(num_seeds))


__all__ = ["DEFAULT_SEED_GROUP_SIZE", "default_seed_group_size", "seed_layout", "run_chunk_on_devices"]
