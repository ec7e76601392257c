"""The ``trova`` command: one click group whose commands live in their own modules, loaded lazily.

``trova --help`` lists the commands from the table below without importing them, and a command
imports only its own module, so a command starts without loading the server, the finder and the
database layers it does not use. Every failure ends here as one line on stderr:
``error: <message>``, exit status 2 for usage and configuration errors, 1 for the others.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Any

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from trova.cli.exits import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE
from trova.errors import ConfigError, TrovaError, UsageError

HELP = "Trova: a self-hosted phone-number finder with an Enrow-compatible API."

COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("server", "Serve the API, with background workers unless --no-worker."),
    "worker": ("server", "Run the background workers alone (no HTTP API)."),
    "migrate": ("server", "Create or upgrade the database schema."),
    "config": ("config", "Show the effective settings and where each came from."),
    "accounts": ("accounts webhooks", "Manage accounts, API keys and credits."),
    "import": ("contacts", "Import contact records into the contact store."),
    "explain": ("finder", "Explain how the finder answers one search, and why."),
    "find": ("bulk", "Find one person's phone number (through a server)."),
    "bulk": ("bulk", "Find the phone numbers of every row of a lead file (through a server)."),
    "batches": ("batches", "List the account's batches on a server, newest first."),
    "webhooks": ("webhooks", "The webhook delivery log: list, inspect and redeliver messages."),
    "suppress": ("privacy", "The suppression list: people and numbers never returned or stored."),
    "erase": ("privacy", "Erase a person, a number or a contact source."),
    "audit": ("privacy", "Who was shown a person's or a number's data, and when."),
    "db": ("db", "Database maintenance: copy an install to another database."),
    "sources": ("sources", "Upstream sources: configuration, health and counters."),
    "mcp": ("mcp_server", "Serve Trova's tools to AI agents over MCP (stdio or streamable HTTP)."),
    "admin": ("admin", "The operator console of the web app: sign-in tokens."),
}
"""Command name -> (the modules of ``trova.cli`` whose ``register(app)`` add it, one-line help)."""

BOOLEAN_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "1", "0"})


def load_command(name: str) -> Any:
    """The command ``name``, built from its modules (imported only now); None if there is none."""
    if name not in COMMANDS:
        return None
    app = typer.Typer(rich_markup_mode=None, add_completion=False, pretty_exceptions_enable=False)
    for module in COMMANDS[name][0].split():
        importlib.import_module(f"trova.cli.{module}").register(app)
    command = typer.main.get_group(app).commands.get(name)
    if command is not None:
        name_values(command)
    return command


def name_values(command: Any) -> None:
    """Name every option's value in the help after the option (``--host HOST``, ``--api-key
    API_KEY``) where the command does not name it, instead of its Python type (``<str>``)."""
    for param in command.params:
        if param.param_type_name == "argument":
            name_argument(param)
        if param.param_type_name != "option" or param.metavar is not None or param.is_flag or param.count:
            continue
        param.metavar = max(param.opts, key=len).lstrip("-").replace("-", "_").upper()
    for sub in getattr(command, "commands", {}).values():
        name_values(sub)


def name_argument(param: Any) -> None:
    """Write an argument as its name alone (``FILES...``, ``[ID]`` when optional), where Typer writes
    ``{files}... <list[Path]>``: its Python type says nothing to the reader, its help does."""
    label = (param.metavar or param.name).upper() + ("..." if param.nargs != 1 else "")
    usage = label if param.required else f"[{label}]"
    param.display_type_rich = lambda ctx: None
    param._rich_display_name = lambda: label
    param._usage_display_name = lambda: usage


class LazyGroup(TyperGroup):
    """A group that knows its commands by name and help, and imports one only when it runs."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        return load_command(cmd_name)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, help_text) for name, (_module, help_text) in COMMANDS.items()])

    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, prog_name: str | None = None,
        complete_var: str | None = None, standalone_mode: bool = True, **extra: Any,
    ) -> int:
        """Run, turning every failure into one line on stderr; exits with the status when standalone."""
        code = run(args)
        if standalone_mode:
            sys.exit(code)
        return code


app = LazyGroup(name="trova", help=HELP, no_args_is_help=True, rich_markup_mode=None)


def one_line(exc: TyperException) -> str:
    """A usage error of the command-line parser as one line, with the command's help named."""
    message = exc.format_message()
    if "unexpected extra argument" in message:
        extra = message.rsplit("(", 1)[-1].rstrip(")").split()
        if extra and extra[0].lower() in BOOLEAN_WORDS:
            message = f"unexpected value {extra[0]!r}: flags such as --dry-run take no value (give it alone)"
    ctx = getattr(exc, "ctx", None)
    path = ctx.command_path if ctx is not None else "trova"
    return f"{message} (see '{path} --help')"


def _is_settings_error(exc: BaseException) -> bool:
    """A ``trova.settings.SettingsError``, told without importing pydantic for ``trova --help``."""
    module = sys.modules.get("trova.settings")
    return module is not None and isinstance(exc, module.SettingsError)


def _echo_error(message: str) -> None:
    typer.echo(f"error: {message}", err=True)


def run(argv: Sequence[str] | None = None) -> int:
    """Run ``trova`` with ``argv`` and return the exit status; every failure is one line on stderr."""
    args = list(argv) if argv is not None else sys.argv[1:]
    try:
        result = TyperGroup.main(app, args=args, prog_name="trova", standalone_mode=False)
    except TyperException as exc:
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
            typer.echo(ctx.get_help())
            return 0
        if exc.exit_code == EXIT_USAGE:
            _echo_error(one_line(exc))
            return EXIT_USAGE
        _echo_error(exc.format_message())
        return int(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        _echo_error("interrupted")
        return EXIT_INTERRUPTED
    except (ConfigError, UsageError) as exc:
        _echo_error(str(exc))
        return EXIT_USAGE
    except ValueError as exc:
        if not _is_settings_error(exc):
            raise
        _echo_error(str(exc))
        return EXIT_USAGE
    except TrovaError as exc:
        _echo_error(exc.message)
        return EXIT_ERROR
    except BrokenPipeError:
        return EXIT_ERROR
    return result if isinstance(result, int) else 0


def main() -> None:
    sys.exit(run())
