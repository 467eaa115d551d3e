"""The progress line of training runs (BPO and the baselines' host loop), on stderr, from the first second.

Before the first chunk of training has finished, the line names the stage and its elapsed time:
``compiling`` (tracing and XLA compilation), then ``warm-up`` (the random-action episodes and the first
evaluation) or ``training`` (the first chunk). A stage entered with ``compiling=True`` shows
``compiling`` until JAX reports that the backend compilation finished (``jax.monitoring``), then its own
name. After each finished chunk the line shows steps, return and, from the second chunk on, steps/s and
the ETA measured from the end of the first chunk (the first includes its compilation, so its time says
nothing about the speed).

On a terminal the line is redrawn in place, once a second while a stage runs; otherwise (a log file)
each stage and at most one update every ``log_interval`` seconds is printed on its own line.
"""

import contextlib
import math
import sys
import threading
import time

import jax

_BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"
_ACTIVE: list["Progress"] = []
_LISTENING = False


def _on_duration(event: str, duration: float, **kwargs) -> None:
    if event == _BACKEND_COMPILE:
        for progress in list(_ACTIVE):
            progress._compiled(str(kwargs.get("fun_name", "")))


def fmt_time(seconds: float) -> str:
    """``1h02m03s`` / ``2m03s``; ``?`` when not finite."""
    if not math.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def bar(done: int, total: int, ret: float, rate: float | None, width: int = 24, extra: str = "") -> str:
    """``[####....] done/total steps  return R  S steps/s  ETA T`` (``measuring speed`` without a rate)."""
    filled = int(width * min(done, total) / max(total, 1))
    if rate is None:
        speed = "measuring speed"
    else:
        eta = (total - done) / rate if rate > 0 else float("nan")
        speed = f"{rate:.0f} steps/s  ETA {fmt_time(eta)}"
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} steps  return {ret:.4g}  {speed}" + (
        f"  {extra}" if extra else ""
    )


class Progress:
    """The progress line of one run; a no-op when ``enabled`` is false.

    Use ``with progress.stage("warm-up"): ...`` around each long call before the first chunk,
    ``progress.update(steps, ret)`` after each finished chunk and ``progress.close()`` at the end.
    """

    def __init__(
        self,
        total: int,
        *,
        enabled: bool = True,
        name: str = "awmkit",
        stream=None,
        interval: float = 1.0,
        log_interval: float = 10.0,
    ):
        self.total, self.enabled, self.name = total, enabled, name
        self.stream = sys.stderr if stream is None else stream
        self.interval, self.log_interval = interval, log_interval
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._lock = threading.Lock()
        # Until the first stage the label is only drawn by the ticker (after a second on a terminal):
        # an argument error found meanwhile stays the only line printed.
        self._label: str | None = "compiling"
        self._after_compile: str | None = None
        self._program: frozenset[str] | None = None
        self._stage_start = time.perf_counter()
        self._origin: tuple[float, int] | None = None  # (time, steps) at the end of the first chunk
        self._last_log = -math.inf
        self._updates = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._dirty = False
        if enabled:
            global _LISTENING
            if not _LISTENING:
                jax.monitoring.register_event_duration_secs_listener(_on_duration)
                _LISTENING = True
            _ACTIVE.append(self)
            if self.tty:
                self._thread = threading.Thread(target=self._tick, daemon=True)
                self._thread.start()

    # --- stages ----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def stage(self, name: str, *, compiling: bool = True, program: str | tuple[str, ...] | None = None):
        """Shows ``compiling`` and then ``name``, with the elapsed time, while the body runs.

        The label changes when JAX reports a finished backend compilation: of the jitted function
        called ``program`` (or any of several names) if given (eager operations before it compile small
        programs of their own), else of any function."""
        if not self.enabled:
            yield
            return
        with self._lock:
            self._stage_start = time.perf_counter()
            self._after_compile = name if compiling else None
            names = (program,) if isinstance(program, str) else program
            self._program = None if names is None else frozenset(f"jit({p})" for p in names)
            self._set_label("compiling" if compiling else name)
        try:
            yield
        finally:
            with self._lock:
                self._after_compile = None

    def _compiled(self, fun_name: str) -> None:
        with self._lock:
            if self._after_compile is not None and (self._program is None or fun_name in self._program):
                name, self._after_compile = self._after_compile, None
                self._set_label(name)

    def _set_label(self, label: str) -> None:  # under the lock
        self._label = label
        if self._origin is None:
            self._draw(self._stage_line(), force=True)

    def _stage_line(self) -> str:
        return f"{self.name}: {self._label}  {time.perf_counter() - self._stage_start:.0f} s"

    def _tick(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                if self._label is not None and self._origin is None and not self._stop.is_set():
                    self._draw(self._stage_line(), force=True)

    # --- chunks ----------------------------------------------------------------------------------

    def update(self, steps: int, ret: float, *, extra: str = "") -> None:
        """After a finished chunk: the bar, and the speed measured since the end of the first one."""
        if not self.enabled:
            return
        now = time.perf_counter()
        with self._lock:
            self._updates += 1
            if self._origin is None:
                self._origin, rate = (now, steps), None
            else:
                t0, s0 = self._origin
                rate = (steps - s0) / (now - t0) if steps > s0 and now > t0 else None
            force = self._updates <= 2 or steps >= self.total
            self._draw(bar(steps, self.total, ret, rate, extra=extra), force=force)

    def _draw(self, line: str, *, force: bool = False) -> None:  # under the lock
        if self.tty:
            self.stream.write("\r" + line + "\x1b[K")
            self._dirty = True
        else:
            now = time.perf_counter()
            if not force and now - self._last_log < self.log_interval:
                return
            self._last_log = now
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Stops redrawing; ends the line."""
        if not self.enabled:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            if self in _ACTIVE:
                _ACTIVE.remove(self)
            if self._dirty:
                self.stream.write("\n")
                self.stream.flush()
                self._dirty = False

    def message(self, text: str) -> None:
        """A line of its own (e.g. a NaN report), without breaking the progress line."""
        with self._lock:
            if self._dirty:
                self.stream.write("\n")
                self._dirty = False
            self.stream.write(text + "\n")
            self.stream.flush()
