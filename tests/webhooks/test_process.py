"""``run_sender`` as ``trova serve`` runs it: a supervised child process, restarted if it dies."""

from __future__ import annotations

import os
import signal
import threading

import psutil
import pytest

from tests.support.processes import spawned_children
from tests.webhooks.conftest import fast_settings, new_account, queue, settled
from tests.webhooks.receiver import receiver, wait_for
from trova.store import Database
from trova.store.migrate import upgrade
from trova.webhooks.sender import run_sender

pytestmark = pytest.mark.slow


def _sender_children() -> list[psutil.Process]:
    """This process's live spawn children (the sender)."""
    return spawned_children(psutil.Process(os.getpid()))


def test_the_sender_process_is_restarted_after_a_kill_and_stopped_with_its_loop(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    upgrade(db)
    account_id, _ = new_account(db)
    stop = threading.Event()
    loop = threading.Thread(target=run_sender, args=(fast_settings(db), db, stop), daemon=True)
    before = {p.pid for p in _sender_children()}
    with receiver() as hook:
        loop.start()
        try:
            first = wait_for(
                lambda: [p for p in _sender_children() if p.pid not in before], what="the sender"
            )
            first[0].send_signal(signal.SIGKILL)
            second = wait_for(
                lambda: [p for p in _sender_children() if p.pid not in before | {first[0].pid}],
                what="a new sender process",
            )
            message_id = queue(db, account_id, hook.url)
            assert wait_for(lambda: settled(db, message_id), what="delivery").status == "delivered"
        finally:
            stop.set()
            loop.join(60)
    assert not loop.is_alive()
    _gone, alive = psutil.wait_procs(second, timeout=30)
    assert alive == []
    db.dispose()
