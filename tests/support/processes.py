"""The child processes a test looks for."""

from __future__ import annotations

import psutil


def spawned_children(parent: psutil.Process) -> list[psutil.Process]:
    """``parent``'s live ``multiprocessing`` spawn children (not its resource tracker)."""
    found = []
    for child in parent.children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE and "spawn_main" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:
            continue
    return found
