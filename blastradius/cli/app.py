"""The `blastradius` command: the typer application and its shared options."""

from __future__ import annotations

import logging
import sys
from enum import Enum

import typer

from blastradius import __version__
from blastradius.cli import audit as audit_commands
from blastradius.cli import cache as cache_commands
from blastradius.cli import collect as collect_commands
from blastradius.cli import diff as diff_commands
from blastradius.cli import graph as graph_commands
from blastradius.cli import query as query_commands
from blastradius.cli import report as report_commands
from blastradius.cli import simulate as simulate_commands
from blastradius.cli import snapshot as snapshot_commands
from blastradius.render.escape import terminal_text

app = typer.Typer(
    name="blastradius",
    help="Offline blast-radius analysis for secrets in Kubernetes clusters that use External Secrets Operator.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)


class LogLevel(str, Enum):
    warning = "warning"
    info = "info"
    debug = "debug"


def _version_callback(show: bool) -> None:
    if show:
        typer.echo(f"blastradius {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    log_level: LogLevel = typer.Option(LogLevel.warning, "--log-level", help="Log level for messages on stderr."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Same as --log-level info."),
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."),
) -> None:
    level = logging.INFO if verbose and log_level == LogLevel.warning else getattr(logging, log_level.value.upper())
    handler = configure_logging(level)
    ctx.call_on_close(lambda: logging.getLogger("blastradius").removeHandler(handler))


class _CurrentStderrHandler(logging.StreamHandler):
    """A handler that writes to whatever `sys.stderr` is at the time of each record.

    Test runners swap stderr per command; a handler bound to the stream of the first run would
    write to a closed stream in the next one.
    """

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


class _TerminalSafeFormatter(logging.Formatter):
    """A formatter that shows control characters in the message as escapes.

    Build warnings and coverage gaps quote names from the snapshot, and stderr is usually a terminal.
    """

    def format(self, record: logging.LogRecord) -> str:
        safe = logging.makeLogRecord(record.__dict__)
        safe.msg, safe.args = terminal_text(record.getMessage()), None
        return super().format(safe)


def configure_logging(level: int) -> logging.Handler:
    """Send blastradius's log records to stderr at `level`, leaving the root logger alone; return the handler."""
    logger = logging.getLogger("blastradius")
    for handler in list(logger.handlers):
        if isinstance(handler, _CurrentStderrHandler):
            logger.removeHandler(handler)
    handler = _CurrentStderrHandler()
    handler.setFormatter(_TerminalSafeFormatter("%(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)
    return handler


app.command(name="collect")(collect_commands.collect)
app.add_typer(snapshot_commands.app, name="snapshot")
app.add_typer(graph_commands.app, name="graph")
app.add_typer(query_commands.app, name="query")
app.command(name="audit")(audit_commands.audit)
app.command(name="simulate")(simulate_commands.simulate)
app.command(name="report")(report_commands.report)
app.command(name="diff")(diff_commands.diff)
app.add_typer(cache_commands.app, name="cache")


def main() -> None:
    app()
