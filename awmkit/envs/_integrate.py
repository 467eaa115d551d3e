"""How one control interval of a continuous-time problem is integrated."""

from collections.abc import Callable

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PyTree

from .._typing import RealScalarLike


class Integrator(eqx.Module):
    """Integrates a vector field over one control interval, the control held constant.

    The default is the paper's discretisation (Appendix F): one explicit Euler step per control
    interval. Any Diffrax solver can be used instead, with several fixed sub-steps or with an adaptive
    step-size controller.

    Two code paths are used, both built on Diffrax's solvers:

    - **fixed steps** (``stepsize_controller=None``, the default): the solver's own ``step`` is called
      ``substeps`` times. This keeps every Diffrax solver available and compiles to the same code as a
      hand-written scan, without the per-call overhead of ``diffrax.diffeqsolve`` (its while loop,
      step-size bookkeeping and output buffers), which dominates when a control interval is a single
      step. ``benchmarks/env_step.py`` measures the difference.
    - **adaptive steps** (a ``stepsize_controller`` such as ``diffrax.PIDController``) or
      ``use_diffeqsolve=True``: one ``diffrax.diffeqsolve`` per control interval, with ``adjoint`` for
      its gradients.

    **Arguments:**

    - `solver`: a Diffrax ODE solver, e.g. ``diffrax.Euler()`` (default), ``diffrax.Heun()``,
      ``diffrax.Tsit5()``, ``diffrax.Dopri8()``.
    - `substeps`: number of solver steps per control interval (fixed-step path) or the initial number
      of steps (adaptive path).
    - `stepsize_controller`: ``None`` for fixed steps, or any Diffrax step-size controller.
    - `use_diffeqsolve`: force the ``diffeqsolve`` path even for fixed steps.
    - `adjoint`: the Diffrax adjoint used on the ``diffeqsolve`` path.
    - `max_steps`: the step budget per control interval on the ``diffeqsolve`` path.
    """

    solver: diffrax.AbstractSolver = diffrax.Euler()
    substeps: int = eqx.field(static=True, default=1)
    stepsize_controller: diffrax.AbstractStepSizeController | None = None
    use_diffeqsolve: bool = eqx.field(static=True, default=False)
    adjoint: diffrax.AbstractAdjoint = diffrax.RecursiveCheckpointAdjoint()
    max_steps: int = eqx.field(static=True, default=4096)

    def __check_init__(self):
        if isinstance(self.substeps, bool) or not isinstance(self.substeps, int) or self.substeps < 1:
            raise ValueError(f"`substeps` must be a positive integer, got {self.substeps!r}")

    def integrate(
        self,
        vector_field: Callable[..., PyTree],
        t0: RealScalarLike,
        dt: RealScalarLike,
        y0: Float[Array, " state_dim"],
        args: PyTree,
    ) -> Float[Array, " state_dim"]:
        """Integrates ``dy/dt = vector_field(t, y, args)`` from ``t0`` to ``t0 + dt``."""
        term = diffrax.ODETerm(vector_field)
        if self.stepsize_controller is None and not self.use_diffeqsolve:
            return self._fixed_steps(term, t0, dt, y0, args)
        controller = self.stepsize_controller
        if controller is None:
            controller = diffrax.ConstantStepSize()
        solution = diffrax.diffeqsolve(
            term,
            self.solver,
            t0=t0,
            t1=t0 + dt,
            dt0=dt / self.substeps,
            y0=y0,
            args=args,
            saveat=diffrax.SaveAt(t1=True),
            stepsize_controller=controller,
            adjoint=self.adjoint,
            max_steps=self.max_steps,
        )
        assert solution.ys is not None
        return solution.ys[-1]

    def _fixed_steps(self, term, t0, dt, y0, args):
        h = dt / self.substeps
        t0 = jnp.asarray(t0, dtype=y0.dtype)
        # The control jumps at every interval boundary, so the solver state (e.g. FSAL) is
        # re-initialised per interval; inside the interval the vector field is smooth.
        state = self.solver.init(term, t0, t0 + h, y0, args)

        def one_step(i, carry):
            y, state = carry
            ta = t0 + i * h
            y, _, _, state, _ = self.solver.step(term, ta, ta + h, y, args, state, made_jump=False)
            return y, state

        if self.substeps <= 4:
            carry = (y0, state)
            for i in range(self.substeps):
                carry = one_step(i, carry)
            return carry[0]
        return jax.lax.fori_loop(0, self.substeps, one_step, (y0, state))[0]
