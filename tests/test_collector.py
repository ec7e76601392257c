"""``trova.collector.paused``: no automatic collection inside, cycles made inside collected after."""

from __future__ import annotations

import gc
import threading
import weakref

from trova import collector


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def _dropped_cycle() -> weakref.ref[_Node]:
    first, second = _Node(), _Node()
    first.other, second.other = second, first
    return weakref.ref(first)


def test_the_collector_is_paused_inside_and_collects_the_cycles_after() -> None:
    assert gc.isenabled()
    with collector.paused():
        assert not gc.isenabled()
        cycle = _dropped_cycle()
        assert cycle() is not None
    assert gc.isenabled()
    assert cycle() is None


def test_overlapping_pauses_enable_it_once_the_last_ends() -> None:
    inside, leave = threading.Event(), threading.Event()

    def other() -> None:
        with collector.paused():
            inside.set()
            leave.wait(timeout=60)

    thread = threading.Thread(target=other)
    thread.start()
    assert inside.wait(timeout=60)
    with collector.paused():
        pass
    assert not gc.isenabled()
    leave.set()
    thread.join(timeout=60)
    assert gc.isenabled()


def test_a_collector_disabled_before_stays_disabled() -> None:
    gc.disable()
    try:
        with collector.paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
