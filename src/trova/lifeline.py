"""Child processes that die with their parent: a ``kill -9`` of ``trova import`` or of
``trova serve --workers N`` must not leave its reader or API processes running, orphaned.

:func:`die_with_parent`, called first thing in the child, uses two mechanisms:

- on Linux, ``prctl(PR_SET_PDEATHSIG, SIGKILL)``: the kernel kills the child the moment the thread
  that started it ends, whatever killed the parent;
- everywhere, a daemon thread that compares ``os.getppid()`` with the parent's pid every
  ``WATCH_INTERVAL_S`` (an orphan is re-parented, so its parent pid changes) and exits the process.

The parent's pid is given by the parent itself (an argument or an environment variable), not read
in the child, so that a parent that died before the child got this far is noticed too.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading

PR_SET_PDEATHSIG = 1
WATCH_INTERVAL_S = 0.5
PARENT_PID_ENV = "TROVA_PARENT_PID"
"""Where ``trova serve --workers N`` tells its API processes the supervisor's pid."""


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
