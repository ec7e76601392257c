"""Child processes that die with their parent: a ``kill -9`` of ``trova import`` or of
``trova serve`` must not leave its reader, API, worker or webhook processes running, orphaned.

:func:`die_with_parent`, called first thing in the child, uses two mechanisms:

- on Linux, ``prctl(PR_SET_PDEATHSIG, SIGKILL)``: the kernel kills the child the moment the thread
  that started it ends, whatever killed the parent;
- everywhere, a daemon thread that compares ``os.getppid()`` with the parent's pid every
  ``WATCH_INTERVAL_S`` (an orphan is re-parented, so its parent pid changes) and exits the process.

The parent's pid is given by the parent itself (an argument or an environment variable), not read
in the child, so that a parent that died before the child got this far is noticed too.

:func:`supervise` runs one such child for as long as a background loop of the parent runs,
starting it again when it dies: the webhook sender and the job workers of ``trova serve``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable

PR_SET_PDEATHSIG = 1
WATCH_INTERVAL_S = 0.5
RESTART_DELAY_S = 1.0
PARENT_PID_ENV = "TROVA_PARENT_PID"
"""Where ``trova serve --workers N`` tells its API processes the supervisor's pid."""

log = logging.getLogger("trova.lifeline")


def _set_parent_death_signal() -> None:
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _watch(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        threading.Event().wait(WATCH_INTERVAL_S)
    os._exit(1)


def die_with_parent(parent_pid: int) -> None:
    """Make this process end when ``parent_pid`` (its parent) does (module docstring)."""
    _set_parent_death_signal()
    if os.getppid() != parent_pid:
        os._exit(1)
    threading.Thread(target=_watch, args=(parent_pid,), name="trova-lifeline", daemon=True).start()


def die_with_parent_from_env() -> None:
    """:func:`die_with_parent` for the pid in ``TROVA_PARENT_PID``, when it is set."""
    value = os.environ.get(PARENT_PID_ENV, "")
    if value.isdigit():
        die_with_parent(int(value))


def supervise(
    target: Callable[..., object],
    args: tuple[object, ...],
    *,
    name: str,
    stop: threading.Event,
    grace_s: float,
    check_s: float = WATCH_INTERVAL_S,
    restart_delay_s: float = RESTART_DELAY_S,
    daemon: bool = True,
) -> None:
    """Run ``target(*args)`` in a ``spawn`` child process named ``name`` until ``stop`` is set.

    A child that exits on its own (crash, ``kill -9``, out of memory) is logged as an error and
    started again after ``restart_delay_s``. When ``stop`` is set the child gets SIGTERM and
    ``grace_s`` to finish what it has in hand, then SIGKILL. ``target`` should call
    :func:`die_with_parent` first (its parent pid is the caller's), so that a ``kill -9`` of this
    process leaves no orphan: the parent-death signal fires when the thread running this returns.
    A child that supervises children of its own must be started with ``daemon=False``
    (``multiprocessing`` forbids daemonic parents); this function still ends it before returning.
    """
    context = multiprocessing.get_context("spawn")
    while not stop.is_set():
        process = context.Process(target=target, args=args, name=name, daemon=daemon)
        process.start()
        while process.is_alive() and not stop.wait(check_s):
            pass
        if stop.is_set():
            process.terminate()
            process.join(grace_s)
            if process.is_alive():
                process.kill()
                process.join()
            return
        log.error("the %s process exited with status %s; restarting it", name, process.exitcode)
        stop.wait(restart_delay_s)
