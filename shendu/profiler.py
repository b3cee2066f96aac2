"""``shendu.profiler``: where a training step spends its time, op by op and layer by layer.

    with shendu.profiler.profile() as prof:
        model.train_on_batch(x, y)
    print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=10))
    print(prof.key_averages(group_by_layer=True).table())
    prof.export_chrome_trace("trace.json")      # open in Perfetto or chrome://tracing

With ``schedule(wait=, warmup=, active=)``, ``on_trace_ready=tensorboard_trace_handler(dir)`` and
``prof.step()`` after each training step it records chosen steps only, as PyTorch's does; and
``experimental.start(logdir)``/``stop()`` is TensorFlow's spelling.

The layout follows PyTorch's profiler. Each op's forward and backward are timed separately (a backward
is named ``<Op>Backward``), with call counts, input shapes, bytes allocated (the arrays an op creates, not
views) and FLOPs for the ops whose count is known (matmul, dense, convolution; attention is made of
matmuls). Layer calls are spans around their ops. It watches the engine through ``autograd.observe``.
"""
from __future__ import annotations

import contextlib
import datetime
import enum
import gzip
import json
import math
import os
import socket
import threading
import time

from shendu import autograd, backend


def _prod(shape) -> int:
    return math.prod(int(n) for n in shape)


def forward_flops(op: str, arrays, outputs, fn=None) -> int:
    """Multiply-adds x 2 of the ops with a known count; 0 for the others."""
    if op in ("MatMul", "Linear"):
        return 2 * _prod(outputs[0].shape) * int(arrays[0].shape[-1])
    if op in ("Conv2D", "Conv2DAct"):
        return 2 * _prod(outputs[0].shape) * _prod(arrays[1].shape[:-1])
    if op == "Conv2DActPool" and fn is not None:   # the output is pooled: the convolution outputs the pool reads
        used = [o // p * p for o, p in zip(fn.win.out, fn.pool)]
        return 2 * int(arrays[0].shape[0]) * _prod(used) * _prod(arrays[1].shape)
    if op == "Conv2DTranspose":
        return 2 * _prod(arrays[0].shape) * _prod(arrays[1].shape[:-1])
    return 0


def _shares(a, b) -> bool:
    return b is not None and hasattr(b, "nbytes") and backend.xp.may_share_memory(a, b)


class Event:
    """One timed span: an op's forward or backward, a layer call or a ``record_function`` block.

    Times are in microseconds; ``start`` counts from the profiler's start.
    """

    __slots__ = ("name", "kind", "layer", "start", "duration", "input_shapes", "bytes", "flops", "thread")

    def __init__(self, name, kind, layer, start, input_shapes=(), thread=0):
        self.name, self.kind, self.layer, self.start = name, kind, layer, start
        self.input_shapes, self.thread = input_shapes, thread
        self.duration, self.bytes, self.flops = 0.0, 0, 0

    def __repr__(self):
        return f"Event({self.name!r}, {self.kind}, {self.duration:.1f}us, layer={self.layer!r})"


def _format_time(us: float) -> str:
    if us >= 1e6:
        return f"{us / 1e6:.3f}s"
    if us >= 1e3:
        return f"{us / 1e3:.3f}ms"
    return f"{us:.3f}us"


def _format_memory(n: int) -> str:
    for unit, size in (("Gb", 1024 ** 3), ("Mb", 1024 ** 2), ("Kb", 1024)):
        if abs(n) >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n} b"


class FunctionEventAvg:
    """The events of one key (an op name, an op and input shapes, or a layer) added up."""

    def __init__(self, key, input_shapes=""):
        self.key, self.input_shapes = key, input_shapes
        self.count = 0
        self.self_cpu_time_total = self.cpu_time_total = 0.0
        self.cpu_memory_usage = self.self_cpu_memory_usage = 0
        self.flops = 0

    @property
    def cpu_time(self) -> float:
        """Average microseconds per call."""
        return self.cpu_time_total / self.count if self.count else 0.0

    def __repr__(self):
        return (f"<FunctionEventAvg key={self.key} self_cpu_time={_format_time(self.self_cpu_time_total)} "
                f"cpu_time={_format_time(self.cpu_time_total)} count={self.count}>")


_SORT_KEYS = ("cpu_time", "cpu_time_total", "self_cpu_time_total", "count", "cpu_memory_usage",
              "self_cpu_memory_usage", "flops")


class EventList(list):
    """``key_averages()``'s rows; ``table()`` prints them as PyTorch's profiler does."""

    def __init__(self, rows, self_time_total: float, with_shapes: bool):
        super().__init__(rows)
        self.self_cpu_time_total = self_time_total
        self._with_shapes = with_shapes

    def table(self, sort_by: str | None = None, row_limit: int = 100, max_name_column_width: int = 55,
              max_shapes_column_width: int = 80, header: str | None = None) -> str:
        """The rows as a fixed-width table: Name, Self CPU %, Self CPU, CPU total %, CPU total,
        CPU time avg, CPU Mem, Self CPU Mem, # of Calls, [Input Shapes], Total MFLOPs."""
        rows = list(self)
        if sort_by is not None:
            if sort_by not in _SORT_KEYS:
                raise ValueError(f"table(sort_by={sort_by!r}): expected one of {', '.join(_SORT_KEYS)}.")
            rows.sort(key=lambda r: getattr(r, sort_by), reverse=True)
        if row_limit is not None and row_limit > 0:
            rows = rows[:row_limit]
        total = self.self_cpu_time_total or 1.0
        name_w = min(max_name_column_width, max([len("Name")] + [len(r.key) for r in rows]))
        heads = ["Name", "Self CPU %", "Self CPU", "CPU total %", "CPU total", "CPU time avg", "CPU Mem",
                 "Self CPU Mem", "# of Calls"]
        widths = [name_w] + [12] * (len(heads) - 1)
        if self._with_shapes:
            heads.append("Input Shapes")
            widths.append(min(max_shapes_column_width, max([12] + [len(r.input_shapes) for r in rows])))
        with_flops = any(r.flops for r in rows)
        if with_flops:
            heads.append("Total MFLOPs")
            widths.append(12)

        def line(cells):
            out = []
            for i, (c, w) in enumerate(zip(cells, widths)):
                c = c if len(c) <= w else c[:w - 3] + "..."
                out.append(c.ljust(w) if heads[i] in ("Name", "Input Shapes") else c.rjust(w))
            return "  ".join(out) + "  "

        rule = "  ".join("-" * w for w in widths) + "  "
        lines = ([header] if header else []) + [rule, line(heads), rule]
        for r in rows:
            cells = [r.key, f"{100 * r.self_cpu_time_total / total:.2f}%", _format_time(r.self_cpu_time_total),
                     f"{100 * r.cpu_time_total / total:.2f}%", _format_time(r.cpu_time_total),
                     _format_time(r.cpu_time), _format_memory(r.cpu_memory_usage),
                     _format_memory(r.self_cpu_memory_usage), str(r.count)]
            if self._with_shapes:
                cells.append(r.input_shapes)
            if with_flops:
                cells.append(f"{r.flops / 1e6:.3f}" if r.flops else "--")
            lines.append(line(cells))
        lines += [rule, f"Self CPU time total: {_format_time(self.self_cpu_time_total)}"]
        return "\n".join(lines) + "\n"

    def __str__(self):
        return self.table()


class ProfilerActivity(enum.Enum):
    """What to profile, as PyTorch names it; shendu runs on the CPU."""
    CPU = "cpu"
    CUDA = "cuda"


class ProfilerAction(enum.Enum):
    """What a ``schedule`` asks for at a step."""
    NONE = 0
    WARMUP = 1
    RECORD = 2
    RECORD_AND_SAVE = 3


def schedule(*, wait: int, warmup: int, active: int, repeat: int = 0, skip_first: int = 0):
    """PyTorch's profiling schedule: skip ``skip_first`` steps, then cycles of ``wait`` idle steps,
    ``warmup`` steps run but not kept, ``active`` steps recorded (the last one hands the trace to
    ``on_trace_ready``); ``repeat`` cycles (0: for as long as the loop runs)."""
    if active < 1 or min(wait, warmup, repeat, skip_first) < 0:
        raise ValueError(f"schedule needs active >= 1 and wait, warmup, repeat, skip_first >= 0; got wait={wait}, "
                         f"warmup={warmup}, active={active}, repeat={repeat}, skip_first={skip_first}.")

    def action(step: int) -> ProfilerAction:
        if step < skip_first:
            return ProfilerAction.NONE
        step -= skip_first
        cycle = wait + warmup + active
        if repeat and step >= cycle * repeat:
            return ProfilerAction.NONE
        at = step % cycle
        if at < wait:
            return ProfilerAction.NONE
        if at < wait + warmup:
            return ProfilerAction.WARMUP
        return ProfilerAction.RECORD if at < cycle - 1 else ProfilerAction.RECORD_AND_SAVE
    return action


def tensorboard_trace_handler(dir_name, worker_name: str | None = None):
    """An ``on_trace_ready`` that writes ``<worker>.<time>.pt.trace.json`` into ``dir_name`` (the file
    names PyTorch's TensorBoard plugin lists; Perfetto opens them too)."""
    def handler(prof):
        os.makedirs(dir_name, exist_ok=True)
        worker = worker_name or f"{socket.gethostname()}_{os.getpid()}"
        prof.export_chrome_trace(os.path.join(dir_name, f"{worker}.{time.time_ns() // 1_000_000}.pt.trace.json"))
    return handler


class profile:
    """Context manager recording every op and layer call run inside it (see the module docstring).

    Args:
        activities: ``[ProfilerActivity.CPU]`` (the default and the only one shendu runs on).
        schedule: a ``schedule(...)``: which steps (counted by ``prof.step()``) are recorded; None
            records everything.
        on_trace_ready: called with the profiler at the end of each recorded window of the schedule (or
            at exit without one), e.g. ``tensorboard_trace_handler("log")``.
        record_shapes: keep each op's input shapes (needed for ``group_by_input_shape``).
        profile_memory: count the bytes each op allocates.
        with_flops: count FLOPs of matmul, dense and convolution ops.
    Each ``prof.step()`` also closes a ``ProfilerStep#<n>`` span around the step's work, as in PyTorch.
    """

    def __init__(self, activities=None, schedule=None, on_trace_ready=None, record_shapes: bool = True,
                 profile_memory: bool = True, with_flops: bool = True):
        for activity in activities or [ProfilerActivity.CPU]:
            if activity is not ProfilerActivity.CPU:
                raise ValueError(f"profile(activities=...): shendu runs on the CPU, so only ProfilerActivity.CPU "
                                 f"can be profiled; got {activity!r}.")
        self.schedule, self.on_trace_ready = schedule, on_trace_ready
        self.record_shapes, self.profile_memory, self.with_flops = record_shapes, profile_memory, with_flops
        self.step_num = 0
        self._events: list[Event] = []
        self._open: list[Event] = []
        self._t0 = 0
        self._context = None
        self._recording = True
        self._step_span = None

    def _now(self) -> float:
        return (time.perf_counter_ns() - self._t0) / 1e3

    def _action(self):
        return ProfilerAction.RECORD if self.schedule is None else self.schedule(self.step_num)

    def _open_step(self):
        self._recording = self._action() in (ProfilerAction.RECORD, ProfilerAction.RECORD_AND_SAVE)
        if self._recording and self._step_span is None and (self.schedule is not None or self.step_num):
            self._step_span = Event(f"ProfilerStep#{self.step_num}", "user", "", self._now(),
                                    thread=threading.get_ident())
            self._open.append(self._step_span)

    def _close_step(self):
        if self._step_span is not None and self._step_span in self._open:
            while self._open and self._open[-1] is not self._step_span:
                self._open.pop()                        # spans left open by an exception
            self._pop()
        self._step_span = None

    def step(self) -> None:
        """Mark the end of a training step: closes ``ProfilerStep#<n>`` and moves the schedule on."""
        self._close_step()
        if self._action() is ProfilerAction.RECORD_AND_SAVE and self.on_trace_ready is not None:
            self.on_trace_ready(self)
            self._events = []                           # the next window starts empty
        self.step_num += 1
        self._open_step()

    def __enter__(self):
        self._t0 = time.perf_counter_ns()
        self._context = autograd.observe(self)
        self._context.__enter__()
        self._open_step()
        return self

    def __exit__(self, *exc):
        recording = self._recording
        self._close_step()
        self._context.__exit__(*exc)
        self._open.clear()
        self._recording = False
        if self.on_trace_ready is not None and recording and self._events:
            self.on_trace_ready(self)
        return False

    # ------------------------------------------------------------ the observer protocol (autograd)
    def span_begin(self, name, kind):   # a layer event's ``layer`` is its own path, e.g. "sequential/dense"
        if self._recording:
            self._push(Event(name, kind, "/".join(autograd._layers), self._now(), thread=threading.get_ident()))

    def span_end(self, name, kind):
        if self._recording:
            self._pop()

    def begin(self, phase, fn, arrays, layer):
        if not self._recording:
            return
        op = type(fn).__name__
        shapes = tuple(tuple(a.shape) for a in arrays if a is not None) if self.record_shapes else ()
        name = op if phase == "forward" else op + "Backward"
        self._push(Event(name, phase, layer, 0.0, shapes, threading.get_ident()))
        self._open[-1].start = self._now()          # start last, so the bookkeeping is not timed

    def end(self, phase, fn, arrays, result, layer):
        if not self._recording:
            return
        now = self._now()
        event = self._pop(now)
        results = result if isinstance(result, (tuple, list)) else (result,)
        if self.profile_memory:     # new arrays only: a view of an operand (reshape, a passed-on gradient) is free
            event.bytes = sum(int(r.nbytes) for r in results if r is not None and hasattr(r, "nbytes") and
                              not any(_shares(r, a) for a in arrays))
        if self.with_flops:
            op = type(fn).__name__
            if phase == "forward":
                fn._flops = event.flops = forward_flops(op, arrays, results, fn)
            else:   # each operand gradient of a matmul or convolution costs one forward's worth
                needed = sum(1 for need in tuple(fn.needs)[:2] if need)
                event.flops = getattr(fn, "_flops", 0) * needed

    def _push(self, event):
        self._open.append(event)

    def _pop(self, now=None):
        event = self._open.pop()
        event.duration = (self._now() if now is None else now) - event.start
        self._events.append(event)
        return event

    # ------------------------------------------------------------ results
    def events(self) -> list[Event]:
        """Every recorded span (ops, layer calls, named blocks) in the order they ended."""
        return list(self._events)

    def op_events(self) -> list[Event]:
        return [e for e in self._events if e.kind in ("forward", "backward")]

    def _self_times(self) -> dict:
        """Self time of each span: its duration less the spans directly inside it (a layer call's self
        time is its own bookkeeping: converting inputs, building, masks)."""
        timed = sorted(self._events, key=lambda e: (e.thread, e.start, -e.duration))
        own = {id(e): e.duration for e in timed}
        stack: list[Event] = []
        for e in timed:
            while stack and (stack[-1].thread != e.thread or stack[-1].start + stack[-1].duration <= e.start):
                stack.pop()
            if stack:
                own[id(stack[-1])] -= e.duration
            if e.kind in ("user", "layer"):
                stack.append(e)
        return own

    def key_averages(self, group_by_input_shape: bool = False, group_by_layer: bool = False) -> EventList:
        """Events added up per op name (and input shapes), or per layer with ``group_by_layer=True``.

        Named blocks (``record_function``, the backward walk ``autograd.backward``, an optimizer step)
        are rows too, and so is ``Layer.__call__``, the layers' own bookkeeping around their ops; each
        row's self time excludes the spans inside it, so the self times add up to the time profiled.
        Per layer, self time is the layer's bookkeeping plus the ops it calls directly (forward and
        backward) and total time adds its inner layers'; ``(outside layers)`` holds the rest (the loss,
        the backward walk, the update).
        """
        own = self._self_times()
        total = sum(own.values())
        groups: dict = {}
        if group_by_layer:
            for e in self._events:
                key = e.layer or "(outside layers)"
                row = groups.setdefault(key, FunctionEventAvg(key))
                row.self_cpu_time_total += own[id(e)]
                row.self_cpu_memory_usage += e.bytes
                row.flops += e.flops
                if e.kind == "layer" or key == "(outside layers)":
                    row.count += 1
            for key, row in groups.items():
                inner = [r for k, r in groups.items() if k == key or k.startswith(key + "/")]
                row.cpu_time_total = sum(r.self_cpu_time_total for r in inner)
                row.cpu_memory_usage = sum(r.self_cpu_memory_usage for r in inner)
            return EventList(groups.values(), total, with_shapes=False)
        for e in self._events:
            layer = e.kind == "layer"
            name = "Layer.__call__" if layer else e.name
            shapes = str([list(s) for s in e.input_shapes]) if group_by_input_shape else ""
            row = groups.get((name, shapes))
            if row is None:
                row = groups[(name, shapes)] = FunctionEventAvg(name, shapes)
            row.count += 1
            row.self_cpu_time_total += own[id(e)]
            if not layer or "/" not in e.layer:     # a layer call's total: the outermost calls only
                row.cpu_time_total += e.duration
            row.cpu_memory_usage += e.bytes
            row.self_cpu_memory_usage += e.bytes
            row.flops += e.flops
        return EventList(groups.values(), total, with_shapes=group_by_input_shape)

    def table(self, **kwargs) -> str:
        return self.key_averages().table(**kwargs)

    def export_chrome_trace(self, path) -> None:
        """Write the events in the Trace Event Format (complete events, microseconds) for Perfetto or
        chrome://tracing: layer calls are spans that hold their ops' spans."""
        pid = os.getpid()
        threads = {}
        events = []
        for e in sorted(self._events, key=lambda e: (e.start, -e.duration)):
            tid = threads.setdefault(e.thread, len(threads))
            args = {"layer": e.layer}
            if e.input_shapes:
                args["Input Dims"] = [list(s) for s in e.input_shapes]
            if e.bytes:
                args["bytes"] = e.bytes
            if e.flops:
                args["flops"] = e.flops
            events.append({"name": e.name, "cat": e.kind, "ph": "X", "ts": round(e.start, 3),
                           "dur": round(e.duration, 3), "pid": pid, "tid": tid, "args": args})
        events.append({"name": "process_name", "ph": "M", "pid": pid, "tid": 0, "args": {"name": "shendu"}})
        opener = gzip.open if os.fspath(path).endswith(".gz") else open
        with opener(path, "wt", encoding="utf-8") as f:
            json.dump({"traceEvents": events, "displayTimeUnit": "ms"}, f)

    def export_tensorboard(self, logdir) -> str:
        """Write the trace where TensorBoard's profile tab looks: ``logdir/plugins/profile/<time>/<host>
        .trace.json.gz``. Returns the file's path."""
        run = datetime.datetime.now().strftime("%Y_%m_%d_%H_%M_%S")
        folder = os.path.join(os.fspath(logdir), "plugins", "profile", run)
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"{socket.gethostname()}.trace.json.gz")
        self.export_chrome_trace(path)
        return path


@contextlib.contextmanager
def record_function(name: str):
    """``with record_function("data"):`` a named span of your own in the table and the trace (a no-op
    when nothing is profiling)."""
    with autograd.span(name):
        yield


class experimental:
    """TensorFlow's spelling: ``tf.profiler.experimental.start(logdir)`` ... ``stop()``, or
    ``with tf.profiler.experimental.Profile(logdir):``; the trace goes where TensorBoard looks."""

    _running: list = []

    @staticmethod
    def start(logdir, options=None) -> None:
        if options is not None:
            raise ValueError("profiler.experimental.start(options=...) sets TensorFlow's tracer levels, which "
                             "shendu does not have; leave it None.")
        if experimental._running:
            raise RuntimeError("A profiler is already running; call profiler.experimental.stop() first.")
        prof = profile()
        prof.__enter__()
        experimental._running.append((prof, os.fspath(logdir)))

    @staticmethod
    def stop(save: bool = True):
        if not experimental._running:
            raise RuntimeError("No profiler is running; call profiler.experimental.start(logdir) first.")
        prof, logdir = experimental._running.pop()
        prof.__exit__(None, None, None)
        if save:
            prof.export_tensorboard(logdir)
        return prof

    @staticmethod
    @contextlib.contextmanager
    def Profile(logdir, options=None):  # noqa: N802 - TensorFlow's name
        experimental.start(logdir, options)
        try:
            yield
        finally:
            experimental.stop()
