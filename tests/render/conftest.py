"""Fixtures for the renderer tests: the example estate's snapshot and graph, and a hostile name."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from blastradius.cli.app import app
from blastradius.graph.builder import build_graph
from blastradius.graph.model import CapabilityGraph
from blastradius.snapshot import load_snapshot
from tests.graph import estate

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = REPO_ROOT / "snapshots" / "example"
CANARY = "CANARY-do-not-store-7f3a9c"
HOSTILE_NAME = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="session")
def example_snapshot_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Collect the bundled example estate once per session, as `make demo` does."""
    output = tmp_path_factory.mktemp("example") / "example.json.gz"
    result = CliRunner().invoke(app, ["collect", "--manifests", str(EXAMPLE / "k8s"), "--aws-json",
                                      str(EXAMPLE / "aws.json"), "--cluster-name", "example", "-o", str(output)])
    assert result.exit_code == 0, result.output
    return output


@pytest.fixture(scope="session")
def example_graph(example_snapshot_file: Path) -> CapabilityGraph:
    return build_graph(load_snapshot(example_snapshot_file))


def hostile_estate_objects() -> list[dict]:
    """A user whose name is markup, bound to read Secrets of namespace `app`, which holds one Secret."""
    return [
        estate.namespace("app"),
        estate.secret("app", "db"),
        *estate.grant("app", estate.user_subject(HOSTILE_NAME), estate.READ_SECRETS, name="reader"),
    ]


@pytest.fixture
def hostile_snapshot_file(tmp_path: Path) -> Path:
    from blastradius.snapshot import write_snapshot

    return write_snapshot(estate.snapshot(hostile_estate_objects()), tmp_path / "hostile.json.gz")
