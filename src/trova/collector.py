"""The cyclic garbage collector paused around one unit of bulk work (an import chunk, the finder's
identification and gathering of a batch), then run once over the young generations.

Why: such a unit allocates hundreds of thousands of small objects that live until it ends, so the
collector's automatic runs kept walking them (and every older object of the process) for nothing.
Profiles showed it as a fifth of the importing process's CPU and a tenth of the finder's. Everything
the unit made and dropped, cycles included, is still collected when it ends. A process that does
nothing but such work (an import's reader) runs whole under :func:`relaxed` instead: the collector
stays on, far less often.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

RELAXED_GEN0_THRESHOLD = 100_000
"""Allocations between two young-generation collections during an import (default 700)."""
_LOCK = threading.Lock()
_paused = 0
_enable_after = True


@contextmanager
def paused() -> Iterator[None]:
    """No automatic collection inside the block; one collection of generations 0 and 1 after it.

    Overlapping pauses (threads of one process) are counted: the collector is enabled again when
    the last one ends, and only if it was enabled when the first one began.
    """
    global _paused, _enable_after
    with _LOCK:
        if _paused == 0:
            _enable_after = gc.isenabled()
        _paused += 1
        gc.disable()
    try:
        yield
    finally:
        with _LOCK:
            _paused -= 1
            if _paused == 0 and _enable_after:
                gc.enable()
        gc.collect(1)


@contextmanager
def relaxed() -> Iterator[None]:
    """Run the cyclic garbage collector far less often inside the block (then as before).

    An import allocates millions of small objects (rows, records, statement parameters) freed by
    reference counting, almost none in cycles; with the default thresholds the collector ran every
    700 allocations and scanned the older generations again and again: about a tenth of the
    writer's CPU. Objects alive at the start (modules, metadata) are kept out of its scans.
    """
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(RELAXED_GEN0_THRESHOLD, 50, 1000)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
