"""A real Trova server as a subprocess, on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Self

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def trova_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "trova", *args]


def run_trova(
    *args: str,
    env: Mapping[str, str],
    cwd: Path | None = None,
    input_text: str | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run one ``trova`` command to completion and return its output."""
    result = subprocess.run(
        trova_command(*args),
        env={**os.environ, **env},
        cwd=cwd,
        input=input_text,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"trova {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


class TrovaServer:
    """``trova serve`` (or any long-running trova command) managed by a test.

    ``env`` must carry ``TROVA_DATABASE_URL``; the port is chosen here. ``kill()`` sends SIGKILL,
    ``start()`` again restarts on the same port and database.
    """

    def __init__(
        self, env: Mapping[str, str], *, args: Sequence[str] = ("serve",), cwd: Path | None = None,
        log_path: Path | None = None, port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.env = {**os.environ, **env}
        self.args = list(args)
        self.cwd = cwd
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, wait: bool = True) -> Self:
        args = [*self.args]
        if args and args[0] == "serve":
            args += ["--host", "127.0.0.1", "--port", str(self.port)]
        log = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115
        try:
            self.proc = subprocess.Popen(
                trova_command(*args), env=self.env, cwd=self.cwd,
                stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT,
            )
        finally:
            if log is not None:
                log.close()  # the child holds its own copy of the descriptor
        if wait and args and args[0] == "serve":
            self.wait_ready()
        return self

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"trova exited with {self.proc.returncode}; see {self.log_path}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"trova did not become ready on {self.base_url}")

    def kill(self) -> None:
        """SIGKILL: the crash the durability guarantees are about."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
