"""``trova serve --demo`` as a new user runs it, and a graceful SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx
import psutil

from tests.support.servers import TrovaServer, free_port, trova_command
from trova.cli.server import SAMPLE_CONTACTS, sample_linkedin_url


def start_demo(tmp_path: Path, port: int, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TROVA_DATABASE_URL": f"sqlite:///{tmp_path / 'trova.db'}",
        "TROVA_LOG_LEVEL": "warning",
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            trova_command("serve", "--demo", "--host", "127.0.0.1", "--port", str(port), *extra),
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(log.read_text())


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=60)


def printed_key(log: Path) -> str:
    keys = re.findall(r"trova_[A-Za-z0-9_-]{43}", log.read_text())
    assert keys, log.read_text()
    return str(keys[0])


def test_demo_keeps_its_key_across_restarts_and_stops_gracefully(tmp_path: Path) -> None:
    port = free_port()
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    proc = start_demo(tmp_path, port, first_log)
    base = f"http://127.0.0.1:{port}"
    key_file = tmp_path / "trova.db.demo-key"
    try:
        key = printed_key(first_log)
        output = first_log.read_text()
        assert f"curl -s -X POST {base.replace('127.0.0.1', 'localhost')}/phone/single" in output
        assert httpx.get(f"{base}/account/info", headers={"x-api-key": key}).json()["credits"] == 100_000
        assert key_file.read_text().strip() == key
        assert key_file.stat().st_mode & 0o777 == 0o600
    finally:
        assert stop(proc) == 0
    proc = start_demo(tmp_path, port, second_log)
    try:
        assert printed_key(second_log) == key
        assert httpx.get(f"{base}/account/info", headers={"x-api-key": key}).json()["credits"] == 100_000
    finally:
        assert stop(proc) == 0
    proc = start_demo(tmp_path, port, tmp_path / "third.log", "--new-demo-key")
    try:
        new_key = printed_key(tmp_path / "third.log")
        assert new_key != key and key_file.read_text().strip() == new_key
        assert httpx.get(f"{base}/account/info", headers={"x-api-key": key}).status_code == 401
        assert httpx.get(f"{base}/account/info", headers={"x-api-key": new_key}).json()["credits"] == 100_000
    finally:
        assert stop(proc) == 0


def test_the_printed_curl_finds_somebody(tmp_path: Path) -> None:
    assert SAMPLE_CONTACTS.exists(), "the bundled sample contacts are missing"
    port = free_port()
    log = tmp_path / "demo.log"
    proc = start_demo(tmp_path, port, log)
    try:
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"x-api-key": printed_key(log)})
        created = client.post("/phone/single", json={"linkedin_url": sample_linkedin_url()})
        assert created.status_code == 201
        deadline = time.monotonic() + 60
        while (result := client.get(f"/phone/single?id={created.json()['id']}")).status_code == 202:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert result.json()["qualification"] == "found", result.json()
        client.close()
    finally:
        assert stop(proc) == 0


def test_two_api_processes_share_the_port_and_die_with_their_parent(tmp_path: Path) -> None:
    env = {"TROVA_DATABASE_URL": f"sqlite:///{tmp_path / 'trova.db'}", "TROVA_LOG_LEVEL": "warning"}
    server = TrovaServer(env, args=("serve", "--no-worker", "--workers", "2"), cwd=tmp_path)
    server.start()
    assert server.proc is not None
    parent = psutil.Process(server.proc.pid)
    try:
        answering: set[int] = set()
        deadline = time.monotonic() + 60
        while len(answering) < 2 and time.monotonic() < deadline:
            with httpx.Client(base_url=server.base_url) as client:
                answering.add(client.get("/healthz").json()["pid"])
        children = {child.pid for child in parent.children()}
        assert len(answering) == 2 and answering <= children, (answering, children)
        processes = [psutil.Process(pid) for pid in answering]
    finally:
        server.kill()
    _gone, alive = psutil.wait_procs(processes, timeout=5)
    assert not alive, [process.pid for process in alive]
