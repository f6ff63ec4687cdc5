"""Start-up cost of the CLI: modules that one command needs are not imported by the others."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "snapshots" / "example"
ONE_COMMAND_MODULES = ("pandas", "jinja2", "graphviz")

# Runs a command in a fresh interpreter, because the test process has imported everything already.
PROBE = """
import json, sys
from typer.testing import CliRunner
from blastradius.cli.app import app
result = CliRunner().invoke(app, sys.argv[1:])
loaded = [name for name in {modules!r} if name in sys.modules]
print(json.dumps({{"exit_code": result.exit_code, "loaded": loaded}}))
"""


def _modules_loaded_by(arguments: list[str]) -> dict[str, object]:
    probe = PROBE.format(modules=ONE_COMMAND_MODULES)
    completed = subprocess.run([sys.executable, "-c", probe, *arguments], capture_output=True, text=True, check=True, timeout=60)
    return json.loads(completed.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def example_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from blastradius.collectors.aws_files import collect_aws_files
    from blastradius.collectors.manifests import collect_manifests
    from blastradius.snapshot import assemble, write_snapshot

    collection = collect_manifests([str(EXAMPLE / "k8s")], "example")
    collection.extend(collect_aws_files([str(EXAMPLE / "aws.json")]))
    return write_snapshot(assemble(collection), tmp_path_factory.mktemp("startup") / "example.json.gz")


@pytest.mark.parametrize(
    ("output", "expected"),
    [("json", []), ("csv", ["pandas"])],
    ids=["who-can-json", "who-can-csv"],
)
def test_command_imports_only_its_modules(example_snapshot: Path, output: str, expected: list[str]) -> None:
    arguments = ["query", "who-can", "production/database/credentials", "-s", str(example_snapshot), "-o", output]
    outcome = _modules_loaded_by(arguments)

    assert outcome["exit_code"] == 0
    assert outcome["loaded"] == expected
