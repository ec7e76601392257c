"""The SQLite write gate: one writer at a time among threads and among processes, bounded waits."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from trova.store import Database
from trova.store.gate import SUFFIX, WriteGate

HOLDER = """
import sys, time
from trova.store.gate import WriteGate
gate = WriteGate(sys.argv[1])
assert gate.acquire(5)
print("held", flush=True)
sys.stdin.readline()
gate.release()
print("released", flush=True)
time.sleep(30)
"""


def test_a_write_of_another_process_is_waited_for_then_followed_at_once(tmp_path: Path) -> None:
    path = str(tmp_path / "trova.db")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdin is not None and holder.stdout is not None
    gate = WriteGate(path)
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        assert not gate.acquire(0.2)
        assert 0.2 <= time.monotonic() - started < 2
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "released"
        started = time.monotonic()
        assert gate.acquire(5)
        assert time.monotonic() - started < 0.5
        gate.release()
    finally:
        holder.kill()
        holder.communicate()
        gate.close()
    assert (tmp_path / ("trova.db" + SUFFIX)).exists()


def test_threads_of_one_process_take_turns_and_a_read_only_directory_gates_threads_only(
    tmp_path: Path,
) -> None:
    gate = WriteGate(str(tmp_path / "missing-dir" / "trova.db"))
    assert gate.acquire(1)
    assert not gate.acquire(0.05)
    gate.release()
    assert gate.acquire(0.05)
    gate.release()
    gate.close()


def test_two_databases_on_one_file_write_in_turn(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'trova.db'}"
    first, second = Database(url, busy_timeout_s=0.2), Database(url, busy_timeout_s=0.2)
    try:
        with first.write() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        with first.write():
            started = time.monotonic()
            try:
                with second.write():
                    raise AssertionError("two writers at once")
            except Exception as error:
                assert "held the lock" in str(error) or "locked" in str(error), error
            assert time.monotonic() - started < 2
        with second.write() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    finally:
        first.dispose()
        second.dispose()
