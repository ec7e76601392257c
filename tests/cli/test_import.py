"""``trova import`` as a user runs it: a real subprocess on a real SQLite file."""

from __future__ import annotations

import gzip
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.support.servers import run_trova, trova_command
from trova.ingest.parallel import PARALLEL_MIN_BYTES
from trova.store import Database
from trova.store.migrate import upgrade


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "trova.db"


@pytest.fixture
def env(db_path: Path) -> dict[str, str]:
    """A migrated, empty store (``trova import`` does not create a database: ``trova migrate`` does)."""
    url = f"sqlite:///{db_path}"
    db = Database(url)
    upgrade(db)
    db.dispose()
    return {"TROVA_DATABASE_URL": url, "COLUMNS": "200"}


def scalar(db_path: Path, sql: str) -> int:
    with sqlite3.connect(db_path) as conn:
        return int(conn.execute(sql).fetchone()[0])


def test_import_lists_skipped_rows_on_stderr_and_ends_with_a_summary(
    tmp_path: Path, env: dict[str, str], db_path: Path
) -> None:
    path = tmp_path / "crm.csv"
    path.write_text(
        "linkedin,first name,last name,company,phone,date\n"
        "linkedin.com/in/ada,Ada,Lovelace,Acme,+15705551234,2024-01-02\n"
        "linkedin.com/in/bob,,,,,2024-01-02\n"
        ",Carl,Sagan,Acme,+15705551235,someday\n"
    )
    result = run_trova("import", str(path), env=env)
    assert result.stderr.splitlines() == ["crm.csv:3: no number", "crm.csv:4: bad date ('someday')"]
    assert "3 rows read from 1 file(s)" in result.stdout
    assert "records stored: 1 (already known or repeated: 0)" in result.stdout
    assert "people created: 1, updated: 0" in result.stdout
    assert "rows skipped: 2\n  bad date: 1\n  no number: 1" in result.stdout
    again = run_trova("import", "--quiet", str(path), env=env)
    assert again.stderr == "" and "records stored: 0 (already known or repeated: 1)" in again.stdout
    assert scalar(db_path, "SELECT count(*) FROM phone_observations") == 1


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    db_path = tmp_path / "fresh" / "trova.db"
    db_path.parent.mkdir()
    env = {"TROVA_DATABASE_URL": f"sqlite:///{db_path}"}
    path = tmp_path / "crm.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"linkedin_url": "linkedin.com/in/ada", "phone": "+15705551234"}\n'))
    for migrated in (False, True):
        result = run_trova("import", "--dry-run", str(path), env=env)
        assert result.stdout.startswith("Dry run: nothing written. 1 rows read")
        assert "records would be stored: 1" in result.stdout and "people would be created: 1" in result.stdout
        if migrated:
            assert scalar(db_path, "SELECT count(*) FROM people") == 0
        else:
            assert not db_path.exists()
        run_trova("migrate", env=env)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00", "error: logo.png: binary file, not CSV or JSON Lines text"),
        (b"Hello,\nthis is a letter.\n", "error: logo.png: not a CSV with a known header nor JSON Lines"),
    ],
)
def test_refused_files_get_one_line_on_stderr_and_a_non_zero_exit(
    tmp_path: Path, env: dict[str, str], content: bytes, message: str
) -> None:
    path = tmp_path / "logo.png"
    path.write_bytes(content)
    result = run_trova("import", str(path), env=env, check=False)
    assert result.returncode == 1 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith(message)


def test_missing_file_is_one_line_error(tmp_path: Path, env: dict[str, str]) -> None:
    result = run_trova("import", str(tmp_path / "nope.csv"), env=env, check=False)
    assert (result.returncode, result.stderr) == (
        1,
        "error: nope.csv: cannot read: No such file or directory\n",
    )


def write_people(path: Path, count: int) -> None:
    """``count`` rows, each a different person with one valid number."""
    with path.open("w") as handle:
        handle.write("linkedin_url,first_name,last_name,company_domain,phone\n")
        for i in range(count):
            number = f"+1201555{i % 10000:04d}"
            handle.write(f"https://www.linkedin.com/in/p-{i},First{i},Last{i},co{i % 997}.com,{number}\n")


def test_kill_9_mid_import_leaves_whole_chunks_and_a_rerun_completes(
    tmp_path: Path, env: dict[str, str], db_path: Path
) -> None:
    rows, chunk = 20_000, 500
    path = tmp_path / "big.csv"
    write_people(path, rows)
    env = {**os.environ, **env, "TROVA_IMPORT_CHUNK_ROWS": str(chunk), "TROVA_IMPORT_WORKERS": "0"}
    process = subprocess.Popen(trova_command("import", "--quiet", str(path)), env=env)
    try:
        while not (db_path.exists() and _stored(db_path) > 0):
            assert process.poll() is None, "the import ended before it could be killed"
            time.sleep(0.02)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    stored = _stored(db_path)
    assert 0 < stored < rows and stored % chunk == 0, "only whole chunks are ever committed"
    assert stored == scalar(db_path, "SELECT count(*) FROM people")
    assert (
        scalar(db_path, "SELECT count(*) FROM people WHERE id NOT IN (SELECT person_id FROM person_names)")
        == 0
    )
    result = run_trova("import", "--quiet", str(path), env=env)
    assert f"records stored: {rows - stored:,} (already known or repeated: {stored:,})" in result.stdout
    assert _stored(db_path) == rows == scalar(db_path, "SELECT count(DISTINCT linkedin_key) FROM people")


def _stored(db_path: Path) -> int:
    try:
        return scalar(db_path, "SELECT count(*) FROM phone_observations")
    except sqlite3.OperationalError:
        return 0  # tables not created yet


@pytest.mark.slow
def test_a_million_rows_stream_with_flat_memory(tmp_path: Path, env: dict[str, str], db_path: Path) -> None:
    """A million rows generated on the fly: 20,000 people seen 50 times each by 50 sources in turn.

    Every row is read, normalised and de-duplicated against the store, but the store stays small, so
    this measures streaming (memory must not grow with the file) rather than insert speed.
    """
    path = tmp_path / "million.csv.gz"
    with gzip.open(path, "wt", compresslevel=1) as handle:
        handle.write("linkedin_url,phone,source,observed_at\n")
        for i in range(1_000_000):
            person = i % 20_000
            handle.write(
                f"linkedin.com/in/p{person},+1201555{person % 10000:04d},s{i // 20_000 % 2},2024-01-01\n"
            )
    # The import runs under a wrapper process that reports the peak RSS of its own children (the
    # import and its reader processes): this test process's children include every earlier test's.
    wrapper = (
        "import resource, subprocess, sys; "
        "code = subprocess.run(sys.argv[1:], stdout=sys.stderr).returncode; "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)"
    )
    command = [sys.executable, "-c", wrapper, *trova_command("import", "--quiet", str(path))]
    result = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "1,000,000 rows read from 1 file(s)" in result.stderr
    assert "records stored: 40,000 (already known or repeated: 960,000)" in result.stderr
    assert scalar(db_path, "SELECT count(*) FROM people") == 20_000
    peak_mib = int(result.stdout.strip()) / 1024
    assert peak_mib < 400, f"peak RSS {peak_mib:.0f} MiB"


def test_kill_9_of_the_import_takes_its_reader_processes_with_it(
    tmp_path: Path, env: dict[str, str]
) -> None:
    path = tmp_path / "big.csv"
    write_people(path, 90_000)
    assert path.stat().st_size > PARALLEL_MIN_BYTES, "the file must be big enough for reader processes"
    env = {**os.environ, **env, "TROVA_IMPORT_WORKERS": "1"}
    process = subprocess.Popen(trova_command("import", "--quiet", str(path)), env=env)
    parent = psutil.Process(process.pid)
    try:
        deadline = time.monotonic() + 60
        while not (readers := [p for p in parent.children() if "spawn_main" in " ".join(p.cmdline())]):
            assert process.poll() is None and time.monotonic() < deadline, "no reader process started"
            time.sleep(0.05)
        descendants = parent.children(recursive=True)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    assert readers
    _gone, alive = psutil.wait_procs(descendants, timeout=5)
    assert not alive, [p.cmdline() for p in alive]
