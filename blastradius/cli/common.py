"""Exit codes, output formats and error reporting shared by every command."""

from __future__ import annotations

import sys
from enum import Enum
from typing import NoReturn

import typer

EXIT_OK = 0
# Findings at or above the threshold, coverage gaps under --strict, or growth under --fail-on-growth.
EXIT_FINDINGS = 1
EXIT_USAGE = 2


class TableOrJson(str, Enum):
    table = "table"
    json = "json"


def fail(message: str) -> NoReturn:
    """Print an input or usage error to stderr and exit with code 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_USAGE)


def is_stdout_tty() -> bool:
    return sys.stdout.isatty()
