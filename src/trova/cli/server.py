"""``trova serve``, ``trova worker`` and ``trova migrate``."""

from __future__ import annotations

import csv
import logging
import os
import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from sqlalchemy.engine import Connection

from trova.accounts import service as accounts
from trova.accounts.models import Split
from trova.cli.common import fail, require_database, settings, sqlite_path
from trova.errors import ConfigError, TrovaError
from trova.runtime import Runtime, database_for, freeze_startup_objects, run_workers
from trova.settings import Settings
from trova.store import Database
from trova.store.migrate import upgrade

DEMO_ACCOUNT = "demo"
DEMO_CREDITS = 100_000
SAMPLE_CONTACTS = Path(__file__).resolve().parent.parent / "data" / "sample_contacts.csv"


def _fail(message: str) -> None:
    fail(message)


def _configure_logging(settings: Settings) -> None:
    from trova.api.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    if not settings.access_log:
        logging.getLogger("trova.access").setLevel(logging.WARNING)


def _open_database(settings: Settings, *, create: bool = True) -> Database:
    from trova.sources.config import configured_sources

    configured_sources(settings)  # a bad [[sources]] entry is a ConfigError: one line, exit 2
    if not create:
        require_database(settings.database_url)
    db = database_for(settings)
    upgrade(db)
    return db


def demo_key_file(database_url: str) -> Path:
    """Where the demo key is kept: beside the SQLite file (``trova.db.demo-key``), else ./trova-demo.key."""
    path = sqlite_path(database_url)
    return path.with_name(path.name + ".demo-key") if path is not None else Path("trova-demo.key")


def _saved_key(conn: Connection, key_file: Path, account_id: int) -> str | None:
    try:
        saved = key_file.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    try:
        owner = accounts.authenticate(conn, saved, phone=False)
    except TrovaError:
        return None
    return saved if owner.id == account_id else None


def _keep_key(key_file: Path, key: str) -> None:
    """Write the key readable by its owner only (mode 0600), atomically."""
    tmp = key_file.with_name(key_file.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, key_file)


def demo_key(db: Database, key_file: Path, *, rotate: bool = False) -> str:
    """The ``demo`` account's key, stable across restarts: created with 100,000 credits the first
    time, then read back from ``key_file`` (keys are stored only hashed in the database); a new key
    only with ``rotate`` or when the file is gone or no longer holds the demo account's key."""
    with db.write() as conn:
        existing = accounts.find_account(conn, DEMO_ACCOUNT)
        if existing is None:
            key = accounts.create_account(conn, DEMO_ACCOUNT, credits=DEMO_CREDITS).api_key
        else:
            if existing.credits < DEMO_CREDITS // 10:
                accounts.topup(
                    conn, existing.id, Split(sub=DEMO_CREDITS - existing.credits, paygo=0), note="demo refill"
                )
            saved = None if rotate else _saved_key(conn, key_file, existing.id)
            if saved is not None:
                return saved
            key = accounts.rotate_key(conn, existing.id)
    _keep_key(key_file, key)
    return key


def import_sample(db: Database) -> str | None:
    """Import the bundled sample contacts when the contact store is empty; a one-line summary."""
    from trova.contacts.repository import store_is_empty
    from trova.ingest.service import import_paths

    if not SAMPLE_CONTACTS.exists():
        return None
    with db.read() as conn:
        if not store_is_empty(conn):
            return None
    report = import_paths(db, [SAMPLE_CONTACTS])
    return f"{report.records_stored} numbers of {report.people_created} people from {SAMPLE_CONTACTS.name}"


def sample_linkedin_url(path: Path = SAMPLE_CONTACTS) -> str:
    """A LinkedIn URL of the bundled sample, so the printed ``curl`` finds somebody."""
    fallback = "https://www.linkedin.com/in/ada-lovelace"
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            for row in csv.DictReader(handle):
                url = (row.get("linkedin_url") or "").strip()
                if url:
                    return url
    except (OSError, csv.Error, UnicodeDecodeError):
        return fallback
    return fallback


def _print_demo(key: str, key_file: Path, host: str, port: int, imported: str | None) -> None:
    shown_host = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::") else host
    base = f"http://{shown_host}:{port}"
    if imported:
        typer.echo(f"Sample contacts: {imported}")
    typer.echo(f"Demo account '{DEMO_ACCOUNT}' — API key (kept in {key_file}; --new-demo-key for a new one):")
    typer.echo(f"  {key}")
    typer.echo(f"  export TROVA_API_KEY={key}")
    typer.echo("Try it:")
    body = orjson.dumps({"linkedin_url": sample_linkedin_url()}).decode()
    typer.echo(
        f"  curl -s -X POST {base}/phone/single -H 'x-api-key: {key}' -H 'content-type: application/json' "
        f"-d '{body}'"
    )
    typer.echo(f"  curl -s '{base}/phone/single?id=<id from above>' -H 'x-api-key: {key}'")
    typer.echo(f"Docs: {base}/docs")


def api_process_app() -> Any:
    """The app of one API process of ``trova serve --workers N`` (uvicorn imports it by name in each
    process it starts): the settings and database of the process's environment, no background loops;
    its submissions wake the worker child (``TROVA_WAKE_ADDRESS``).
    The process dies with the ``serve`` process that started it (``trova.lifeline``)."""
    from trova.api.app import create_app
    from trova.api.protocol import bind_limits
    from trova.jobs.notify import relay_wakeups_from_env
    from trova.lifeline import die_with_parent_from_env

    die_with_parent_from_env()
    relay_wakeups_from_env()
    current = settings()
    _configure_logging(current)
    bind_limits(current)
    return create_app(current, database_for(current))


def serve_command(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default TROVA_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default TROVA_PORT).")] = None,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Serve the API only; run trova worker elsewhere.")
    ] = False,
    demo: Annotated[
        bool, typer.Option("--demo", help="Create/refresh the demo account and sample data first.")
    ] = False,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="API processes sharing the port (background loops: once).")
    ] = 1,
    new_demo_key: Annotated[
        bool, typer.Option("--new-demo-key", help="With --demo: give the demo account a new key.")
    ] = False,
) -> None:
    """Serve the API, with background workers (a child process) unless --no-worker."""
    import uvicorn  # heavy imports only for the command that needs them

    from trova.api.app import create_app
    from trova.api.protocol import uvicorn_options

    current = settings()
    _configure_logging(current)
    bind_host, bind_port = host or current.host, port or current.port
    try:
        db = _open_database(current)
        if demo:
            imported = import_sample(db)
            key_file = demo_key_file(current.database_url)
            _print_demo(demo_key(db, key_file, rotate=new_demo_key), key_file, bind_host, bind_port, imported)
    except ConfigError:
        raise
    except TrovaError as error:
        _fail(error.message)
    runtime = Runtime(current, db, workers=not no_worker, child=current.worker_process).start()
    app: Any = "trova.cli.server:api_process_app" if workers > 1 else create_app(current, db)
    config = uvicorn.Config(
        app,
        factory=workers > 1,
        workers=workers,
        host=bind_host,
        port=bind_port,
        log_level=current.log_level.lower(),
        log_config=None,
        access_log=False,
        lifespan="off",
        **uvicorn_options(current, by_name=workers > 1),
    )
    _absorb_stop_signals(runtime.stop_event)
    freeze_startup_objects()
    try:
        if workers > 1:
            from uvicorn.supervisors import Multiprocess

            from trova.jobs.notify import WAKE_ADDRESS_ENV
            from trova.lifeline import PARENT_PID_ENV

            os.environ[PARENT_PID_ENV] = str(os.getpid())
            if runtime.wake_address is not None:
                os.environ[WAKE_ADDRESS_ENV] = runtime.wake_address
            Multiprocess(config, sockets=[config.bind_socket()]).run()
        else:
            uvicorn.Server(config).run()
    finally:
        runtime.stop()
        db.dispose()


def _absorb_stop_signals(stop: threading.Event) -> None:
    """SIGTERM/SIGINT set ``stop`` instead of killing the process.

    uvicorn handles the signal to shut the server down gracefully, then raises it again for the
    handler that was in place before; with this one in place the process goes on to stop the
    background loops cleanly and exits 0.
    """

    def on_signal(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def worker_command() -> None:
    """Run the background workers alone (no HTTP API) until SIGTERM or Ctrl-C."""
    current = settings()
    _configure_logging(current)
    db = _open_database(current, create=False)
    stopped = threading.Event()
    _absorb_stop_signals(stopped)
    try:
        run_workers(current, db, stopped)
    finally:
        db.dispose()


def migrate_command() -> None:
    """Create or upgrade the database schema (also done on every start)."""
    db = Database(settings().database_url)
    try:
        upgrade(db)
    finally:
        db.dispose()
    typer.echo("database is at the newest schema")


def register(app: typer.Typer) -> None:
    """Add ``serve``, ``worker`` and ``migrate`` to ``app``."""
    app.command("serve")(serve_command)
    app.command("worker")(worker_command)
    app.command("migrate")(migrate_command)
