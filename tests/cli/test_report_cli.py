"""Tests for `blastradius report`, driven through typer's CliRunner on the example estate."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from blastradius.cli.app import app
from tests.render.conftest import CANARY, HOSTILE_NAME, example_snapshot_file, hostile_snapshot_file  # noqa: F401 (fixtures)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_report_requires_an_output(runner: CliRunner, example_snapshot_file: Path) -> None:
    result = runner.invoke(app, ["report", "-s", str(example_snapshot_file)])

    assert result.exit_code == 2
    assert "error: name at least one output: --html, --dot, --svg, --graphml or --json" in result.stderr


def test_report_writes_every_format(runner: CliRunner, example_snapshot_file: Path, tmp_path: Path) -> None:
    outputs = {name: tmp_path / "out" / f"report.{name}" for name in ("html", "dot", "graphml", "json")}

    result = runner.invoke(app, ["report", "-s", str(example_snapshot_file),
                                 *(item for name, path in outputs.items() for item in (f"--{name}", str(path)))])

    assert result.exit_code == 0, result.output
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == sorted(path.name for path in outputs.values())
    assert outputs["html"].read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert outputs["dot"].read_text(encoding="utf-8").startswith("digraph blastradius {")
    assert json.loads(outputs["json"].read_text(encoding="utf-8"))["format"] == "blastradius-graph/1"


def test_report_outputs_hold_no_secret_value(runner: CliRunner, example_snapshot_file: Path, tmp_path: Path) -> None:
    paths = [tmp_path / name for name in ("r.html", "r.dot", "r.graphml", "r.json")]

    result = runner.invoke(app, ["report", "-s", str(example_snapshot_file), "--html", str(paths[0]),
                                 "--dot", str(paths[1]), "--graphml", str(paths[2]), "--json", str(paths[3])])

    assert result.exit_code == 0
    for path in paths:
        assert CANARY not in path.read_text(encoding="utf-8"), path.name


def test_report_html_lists_audit_findings(runner: CliRunner, example_snapshot_file: Path, tmp_path: Path) -> None:
    output = tmp_path / "report.html"

    runner.invoke(app, ["report", "-s", str(example_snapshot_file), "--html", str(output)])

    page = output.read_text(encoding="utf-8")
    assert "<code>ESO-CSS-BROAD</code>" in page
    assert "No audit ran for this report." not in page


def test_report_focus_limits_picture(runner: CliRunner, example_snapshot_file: Path, tmp_path: Path) -> None:
    output = tmp_path / "dev-team.dot"

    result = runner.invoke(app, ["report", "-s", str(example_snapshot_file), "--dot", str(output), "--focus", "group:dev-team"])

    assert result.exit_code == 0
    source = output.read_text(encoding="utf-8")
    assert 'label="blastradius: group:dev-team"' in source
    assert "user:alice@example.com" not in source


def test_report_unknown_focus_fails(runner: CliRunner, example_snapshot_file: Path, tmp_path: Path) -> None:
    output = tmp_path / "report.html"

    result = runner.invoke(app, ["report", "-s", str(example_snapshot_file), "--html", str(output), "--focus", "group:dev-teem"])

    assert result.exit_code == 2
    assert "error: no node matches 'group:dev-teem'; closest matches: group:dev-team" in result.stderr
    assert not output.exists()


def test_report_missing_snapshot_fails(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", "-s", str(tmp_path / "missing.json.gz"), "--html", str(tmp_path / "r.html")])

    assert result.exit_code == 2
    assert "missing.json.gz" in result.stderr


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot program is not installed")
def test_report_writes_svg_with_graphviz(runner: CliRunner, example_snapshot_file: Path, tmp_path: Path) -> None:
    svg = tmp_path / "dev-team.svg"

    result = runner.invoke(app, ["report", "-s", str(example_snapshot_file), "--svg", str(svg), "--focus", "group:dev-team"])

    assert result.exit_code == 0
    assert b"<svg" in svg.read_bytes()
    assert not (tmp_path / "dev-team.dot").exists()


def test_report_svg_without_graphviz_writes_dot(runner: CliRunner, example_snapshot_file: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    svg = tmp_path / "graph.svg"

    result = runner.invoke(app, ["report", "-s", str(example_snapshot_file), "--svg", str(svg)])

    assert result.exit_code == 2
    assert not svg.exists()
    assert (tmp_path / "graph.dot").read_text(encoding="utf-8").startswith("digraph blastradius {")
    assert "apt-get install graphviz" in result.stderr
    assert f"dot -Tsvg {tmp_path / 'graph.dot'} -o {svg}" in result.stderr


def test_report_html_escapes_hostile_name(runner: CliRunner, hostile_snapshot_file: Path, tmp_path: Path) -> None:
    output = tmp_path / "report.html"

    result = runner.invoke(app, ["report", "-s", str(hostile_snapshot_file), "--html", str(output)])

    assert result.exit_code == 0
    page = output.read_text(encoding="utf-8")
    assert HOSTILE_NAME not in page
    assert "\\u003cimg src=x onerror=alert(1)\\u003e" in page
    assert not re.search(r"<img\b", page)
