"""Untrusted heavy work in child processes: few at a time, each with a CPU-time and a
memory limit, and all of them killed when the API stops.

Compiling an upload (unpacking a bundle, reading an Excel workbook, expanding calendars
over the horizon) runs here, not in the API process: a bad upload then costs a child
its limits, never the API its CPU, memory or its answer to SIGTERM. Children are forked
from a server process that imported the compiler once (``forkserver``), so starting one
is cheap.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import resource
import signal
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

log = logging.getLogger(__name__)


class Exceeded(Exception):
    """The child ran out of CPU time or memory, or was stopped (the API shuts down)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def _vm_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _child(
    conn: Connection,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    cpu_seconds: int,
    memory_bytes: int,
) -> None:
    """In the child: limits first, then the work; its result goes back over ``conn``."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 2))
    budget = _vm_bytes() + memory_bytes  # on top of what the preloaded modules map
    resource.setrlimit(resource.RLIMIT_AS, (budget, budget))
    try:
        conn.send(("ok", fn(*args)))
    except MemoryError:
        conn.send(("memory", None))
    finally:
        conn.close()


class Isolated:
    """At most ``processes`` children at once, each limited to ``cpu_seconds`` of CPU and
    ``memory_bytes`` of memory; :meth:`close` kills the running ones."""

    def __init__(
        self,
        processes: int,
        cpu_seconds: float,
        memory_bytes: int,
        preload: list[str] | None = None,
    ) -> None:
        self.cpu_seconds = max(1, round(cpu_seconds))
        self.memory_bytes = memory_bytes
        self._slots = threading.BoundedSemaphore(processes)
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(preload or [])
        self._children: set[Any] = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()

    def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in a child (blocking: call it from a worker thread).

        Raises :class:`Exceeded` when the child hit a limit or the API is stopping.
        ``fn`` must be importable (a module-level function) and its result picklable.
        """
        with self._slots:
            if self._closed.is_set():
                raise Exceeded("shutdown")
            receive, send = self._ctx.Pipe(duplex=False)
            proc = self._ctx.Process(
                target=_child,
                args=(send, fn, args, self.cpu_seconds, self.memory_bytes),
                daemon=True,
            )
            proc.start()
            send.close()
            with self._lock:
                self._children.add(proc)
            try:
                return self._wait(proc, receive)
            finally:
                with self._lock:
                    self._children.discard(proc)
                if proc.is_alive():
                    proc.kill()
                proc.join(5)
                receive.close()

    def _wait(self, proc: Any, receive: Connection) -> Any:
        while True:
            if self._closed.is_set():
                raise Exceeded("shutdown")
            if receive.poll(0.1):
                try:
                    status, value = receive.recv()
                except EOFError:
                    break
                if status == "memory":
                    raise Exceeded("memory")
                return value
            if not proc.is_alive() and not receive.poll(0):
                break
        proc.join(5)
        if proc.exitcode in (-signal.SIGXCPU, -signal.SIGKILL):
            raise Exceeded("cpu")
        raise Exceeded("memory" if proc.exitcode is not None else "crashed")

    def close(self) -> None:
        """Kill every running child (the API is stopping); later calls raise at once."""
        self._closed.set()
        with self._lock:
            children = list(self._children)
        for proc in children:
            if proc.is_alive():
                proc.kill()
