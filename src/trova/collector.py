"""The cyclic garbage collector paused around one unit of bulk work (an import chunk, the finder's
identification and gathering of a batch), then run once over the young generations.

Why: such a unit allocates hundreds of thousands of small objects that live until it ends, so the
collector's automatic runs kept walking them (and every older object of the process) for nothing.
Profiles showed it as a fifth of the importing process's CPU and a tenth of the finder's. Everything
the unit made and dropped, cycles included, is still collected when it ends.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

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
