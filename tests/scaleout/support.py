"""A multi-process Trova deployment for the scale-out tests: API and worker processes on one database."""

from __future__ import annotations

import concurrent.futures
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis
import sqlalchemy as sa

from tests.support.servers import TrovaServer, run_trova
from trova.accounts import service as accounts
from trova.store import Database
from trova.store.migrate import upgrade

PRICE = 40
WAIT_S = 120.0
"""Upper bound for conditions that normally hold within a second: a hung test fails, a slow one not."""


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def contacts_csv(path: Path, people: Sequence[int]) -> Path:
    """One mobile number per person ``i`` of ``people``, keyed by the LinkedIn URL of :func:`search`."""
    lines = ["linkedin_url,phone,country,source"]
    lines += [f"{profile(i)},{mobile(i)},FR,crm" for i in people]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def mobile(i: int) -> str:
    """A distinct valid French mobile number for each ``i`` below one million."""
    return f"+33 6 {i // 10000 % 100:02d} {i // 100 % 100:02d} {i % 100:02d} 11"


def profile(i: int) -> str:
    return f"https://www.linkedin.com/in/scaleout-person-{i}"


def bulk_body(count: int, offset: int = 0) -> dict[str, Any]:
    return {"searches": [{"linkedin_url": profile(offset + i), "custom": {"i": i}} for i in range(count)]}


@dataclass
class Deployment:
    """Processes sharing ``url``: started by the test, all stopped (or killed) at the end."""

    url: str
    tmp: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    api_url: str = ""
    stack: ExitStack = field(default_factory=ExitStack)

    @property
    def env(self) -> dict[str, str]:
        return {
            "TROVA_DATABASE_URL": self.url,
            "TROVA_LOG_LEVEL": "warning",
            "TROVA_RATE_LIMIT_POST_PER_S": "100000",
            **self.extra_env,
        }

    def cli(self, *args: str) -> str:
        return run_trova(*args, env=self.env, cwd=self.tmp).stdout

    def account(self, name: str, credits: int) -> str:
        """A new account's API key (created in this process: a CLI start costs seconds under load)."""
        db = Database(self.url)
        try:
            with db.write() as conn:
                return accounts.create_account(conn, name, credits=credits).api_key
        finally:
            db.dispose()

    def api(self, *, env: dict[str, str] | None = None) -> TrovaServer:
        """``trova serve --no-worker``, ready."""
        server = TrovaServer({**self.env, **(env or {})}, args=("serve", "--no-worker"), cwd=self.tmp,
                             log_path=self.tmp / "api.log")
        self.stack.callback(server.stop)
        return server.start()

    def worker(self, *, env: dict[str, str] | None = None) -> TrovaServer:
        """``trova worker`` (workers and webhook sender, no HTTP)."""
        server = TrovaServer({**self.env, **(env or {})}, args=("worker",), cwd=self.tmp,
                             log_path=self.tmp / "worker.log")
        self.stack.callback(server.stop)
        return server.start()

    def engine(self) -> sa.Engine:
        engine = sa.create_engine(self.url.replace("postgresql://", "postgresql+psycopg://", 1))
        self.stack.callback(engine.dispose)
        return engine

    def close(self) -> None:
        self.stack.close()


@contextmanager
def deployment(url: str, tmp: Path, **extra_env: str) -> Iterator[Deployment]:
    instance = Deployment(url=url, tmp=tmp, extra_env=dict(extra_env))
    db = Database(url)
    try:
        upgrade(db)
    finally:
        db.dispose()
    try:
        yield instance
    finally:
        instance.close()


def scalar(engine: sa.Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def rows(engine: sa.Engine, sql: str, **params: Any) -> list[sa.Row[Any]]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(sql), params).all())


def listening_workers(engine: sa.Engine) -> int:
    """Worker processes whose LISTEN connection is established (PostgreSQL only)."""
    return int(scalar(
        engine,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
    ))


def post_concurrently(
    requests: Sequence[tuple[str, str, dict[str, Any]]], key: str, *, threads: int = 20
) -> list[httpx.Response]:
    """POST each ``(base_url, path, body)`` at once from ``threads`` threads, released together."""
    import threading

    barrier = threading.Barrier(min(threads, len(requests)))

    def send(item: tuple[str, str, dict[str, Any]]) -> httpx.Response:
        base, path, body = item
        with httpx.Client(base_url=base, headers={"x-api-key": key}, timeout=60) as client:
            barrier.wait()
            return client.post(path, json=body)

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return list(pool.map(send, requests))


def start_private_redis(port: int, tmp: Path) -> subprocess.Popen[bytes]:
    """A redis-server of this test alone (the shared one is never stopped)."""
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port, socket_connect_timeout=1)

    def answers() -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    wait_until(answers, "the private redis-server")
    client.close()
    return proc
