"""What every command shares: the one-line failure, the settings, and opening the database.

Errors are one line on stderr, ``error: <message>``; exit status 2 for usage and configuration
errors, 1 for runtime failures (``cli.main`` turns any :class:`~trova.errors.TrovaError` that a
command lets through into that line).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

from trova.cli.exits import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_NO_CREDITS, EXIT_USAGE
from trova.errors import ConfigError, DatabaseMissing, UsageError
from trova.settings import Settings, SettingsError, get_settings

if TYPE_CHECKING:
    from trova.store import Database

__all__ = ["EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_NO_CREDITS", "EXIT_USAGE"]


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    """One readable line on stderr and a non-zero exit status (never a traceback)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def usage_error(message: str) -> NoReturn:
    raise UsageError(message)


def settings() -> Settings:
    """The settings, read once; a bad setting or config file is a :class:`ConfigError`."""
    try:
        return get_settings()
    except SettingsError as exc:
        raise ConfigError(str(exc)) from None


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///PATH`` URL; None for PostgreSQL and in-memory SQLite."""
    if not url.startswith("sqlite"):
        return None
    rest = url.split("://", 1)[1] if "://" in url else ""
    path = rest[1:] if rest.startswith("/") else rest
    path = path.split("?", 1)[0]
    if path in ("", ":memory:"):
        return None
    return Path(path)


def require_database(url: str) -> None:
    """Refuse a SQLite file that does not exist: only ``serve``, ``migrate`` and ``accounts create``
    may create a database, so a command run in the wrong directory cannot leave an empty one behind."""
    path = sqlite_path(url)
    if path is not None and not path.exists():
        raise DatabaseMissing(
            f"no database at {path.resolve()} (TROVA_DATABASE_URL={url}); run the command where the "
            "database is, point TROVA_DATABASE_URL (or database_url in trova.toml) at it, or create "
            "one with 'trova migrate'"
        )


def open_database(*, create: bool = False, migrate: bool = True) -> Database:
    """The configured database, migrated; without ``create`` a missing SQLite file is an error."""
    from trova.store import Database
    from trova.store.migrate import upgrade

    url = settings().database_url
    if not create:
        require_database(url)
    db = Database(url)
    if migrate:
        try:
            upgrade(db)
        except BaseException:
            db.dispose()
            raise
    return db
