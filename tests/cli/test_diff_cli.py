"""Tests for `blastradius diff`, driven through typer's CliRunner on snapshot files."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from blastradius.cli.app import app
from blastradius.snapshot import write_snapshot
from tests.queries.example_snapshots import (
    CANARY,
    CANARY_BASE64_PREFIX,
    SECOND_COLLECTION,
    example_snapshot,
    role_binding,
    with_object,
    without_object,
)

ALICE_BINDING = role_binding("production", "alice-prod-admin", "admin", "alice@example.com")


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Snapshot files: the example estate twice, with a binding added, and with one removed."""
    folder = tmp_path_factory.mktemp("snapshots")
    base = example_snapshot()
    files = {
        "base": write_snapshot(base, folder / "base.json.gz"),
        "recollected": write_snapshot(example_snapshot(SECOND_COLLECTION), folder / "recollected.json.gz"),
        "grown": write_snapshot(with_object(base, ALICE_BINDING), folder / "grown.json"),
        "shrunk": write_snapshot(without_object(base, "RoleBinding", "dev-sandbox", "dev-team-edit"), folder / "shrunk.json"),
    }
    return files


def _diff(old: Path, new: Path, *options: str):
    return CliRunner().invoke(app, ["diff", str(old), str(new), *options])


def _with_schema(snapshot_file: Path, version: str, folder: Path) -> Path:
    data = json.loads(Path(snapshot_file).read_text())
    data["schema_version"] = version
    target = folder / f"schema-{version}.json"
    target.write_text(json.dumps(data))
    return target


# --- exit codes -----------------------------------------------------------------------------------


def test_added_binding_fails_on_growth(snapshots: dict[str, Path]) -> None:
    result = _diff(snapshots["base"], snapshots["grown"], "--fail-on-growth", "-o", "json")

    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["grew"] is True
    assert {row["principal"] for row in report["new_reach"]["rows"]} == {"user:alice@example.com"}


def test_added_binding_without_flag_exits_zero(snapshots: dict[str, Path]) -> None:
    result = _diff(snapshots["base"], snapshots["grown"])

    assert result.exit_code == 0


@pytest.mark.parametrize("new", ["base", "recollected"], ids=["same-file", "later-collection"])
def test_unchanged_estate_exits_zero(snapshots: dict[str, Path], new: str) -> None:
    result = _diff(snapshots["base"], snapshots[new], "--fail-on-growth", "-o", "json")

    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["grew"] is False
    assert report["new_reach"] == {"total": 0, "listed": 0, "rows": []}
    assert report["lost_reach"] == {"total": 0, "listed": 0, "rows": []}
    assert report["object_changes"] == []


def test_removed_binding_exits_zero(snapshots: dict[str, Path]) -> None:
    result = _diff(snapshots["base"], snapshots["shrunk"], "--fail-on-growth", "-o", "json")

    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["lost_reach"]["total"] > 0
    assert {row["principal"] for row in report["lost_reach"]["rows"]} == {"group:dev-team"}


def test_missing_snapshot_exits_two(snapshots: dict[str, Path], tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"

    result = _diff(snapshots["base"], missing)

    assert result.exit_code == 2
    assert result.stderr == f"error: {missing}: snapshot file not found\n"


def test_invalid_config_exits_two(snapshots: dict[str, Path], tmp_path: Path) -> None:
    config = tmp_path / "blastradius.toml"
    config.write_text('trusted_principals = "group:sre"\n')

    result = _diff(snapshots["base"], snapshots["grown"], "--config", str(config))

    assert result.exit_code == 2
    assert result.stderr == f"error: {config}: trusted_principals must be a list of strings, got 'group:sre'\n"


def test_trusted_principal_config_hides_growth(snapshots: dict[str, Path], tmp_path: Path) -> None:
    config = tmp_path / "blastradius.toml"
    config.write_text('trusted_principals = ["user:alice@example.com"]\n')

    result = _diff(snapshots["base"], snapshots["grown"], "--config", str(config), "--fail-on-growth", "-o", "json")

    assert result.exit_code == 0
    assert json.loads(result.stdout)["new_reach"]["total"] == 0


def test_no_findings_skips_audit(snapshots: dict[str, Path]) -> None:
    result = _diff(snapshots["base"], snapshots["shrunk"], "--no-findings", "-o", "json")

    report = json.loads(result.stdout)
    assert report["new_findings"] == []
    assert report["resolved_findings"] == []
    assert report["notes"] == ["audit findings not compared (--no-findings)"]
    assert report["lost_reach"]["total"] > 0


# --- schema versions ------------------------------------------------------------------------------


def test_minor_schema_difference_compared(snapshots: dict[str, Path], tmp_path: Path) -> None:
    newer_minor = _with_schema(snapshots["grown"], "1.4", tmp_path)

    result = _diff(snapshots["base"], newer_minor, "-o", "json")

    assert result.exit_code == 0
    assert json.loads(result.stdout)["notes"] == [
        f"schema versions differ ({snapshots['base']}: 1.0, {newer_minor}: 1.4); compared as schema 1.x"
    ]


@pytest.mark.parametrize("newer_side", ["old", "new"])
def test_newer_major_schema_rejected(snapshots: dict[str, Path], tmp_path: Path, newer_side: str) -> None:
    newer_major = _with_schema(snapshots["grown"], "2.0", tmp_path)
    old, new = (newer_major, snapshots["grown"]) if newer_side == "old" else (snapshots["grown"], newer_major)

    result = _diff(old, new)

    assert result.exit_code == 2
    assert result.stderr == (f"error: {newer_major}: snapshot schema version 2.0 is newer than this blastradius "
                             "supports (1.0); upgrade blastradius to read it\n")


# --- output formats -------------------------------------------------------------------------------


def test_table_output_lists_sections(snapshots: dict[str, Path]) -> None:
    report = json.loads(_diff(snapshots["base"], snapshots["grown"], "-o", "json").stdout)
    total = report["new_reach"]["total"]

    result = _diff(snapshots["base"], snapshots["grown"])

    lines = result.stdout.splitlines()
    assert lines[0] == (f"diff {snapshots['base']} (2026-12-01T12:00:00Z) -> {snapshots['grown']} "
                        "(2026-12-01T12:00:00Z)")
    assert lines[1] == (f"{total} new and 0 lost reachability triple(s), {len(report['new_findings'])} new and "
                        f"{len(report['resolved_findings'])} resolved finding(s), 1 changed object(s)")
    assert f"new reachability ({total})" in result.stdout
    assert "changed objects (1)" in result.stdout
    assert "alice-prod-admin" in result.stdout


def test_table_output_unchanged_message(snapshots: dict[str, Path]) -> None:
    result = _diff(snapshots["base"], snapshots["recollected"])

    assert result.stdout.splitlines()[1] == "no changes: same reachability, same findings and same objects"


def test_markdown_output_for_ci(snapshots: dict[str, Path]) -> None:
    result = _diff(snapshots["base"], snapshots["grown"], "-o", "markdown", "--limit", "3")

    lines = result.stdout.splitlines()
    assert lines[0] == "## blastradius diff"
    assert "| principal | secret | capability | path |" in lines
    assert "| added | `example` | `RoleBinding` | `production/alice-prod-admin` |  | `snapshots/example/k8s/60-drift.yaml:1` |" in lines
    reach_rows = [line for line in lines if line.startswith("| `user:alice@example.com` |")]
    assert len(reach_rows) == 3
    assert any(line.endswith("more not listed; pass --limit 0 to list every one") for line in lines)


def test_markdown_escapes_table_cells(tmp_path: Path) -> None:
    base = example_snapshot()
    hostile = role_binding("production", "x", "admin", "eve|<script>alert(1)</script>`@example.com")
    old = write_snapshot(base, tmp_path / "old.json")
    new = write_snapshot(with_object(base, hostile), tmp_path / "new.json")

    result = _diff(old, new, "-o", "markdown")

    eve_rows = [line for line in result.stdout.splitlines() if line.startswith("| `` user:eve")]
    assert eve_rows
    assert all(line.startswith("| `` user:eve\\|<script>alert(1)</script>`@example.com `` |") for line in eve_rows)


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_output_self_contained(snapshots: dict[str, Path]) -> None:
    result = _diff(snapshots["base"], snapshots["grown"], "-o", "html")

    page = _TextCollector()
    page.feed(result.stdout)
    assert result.stdout.startswith("<!DOCTYPE html>")
    assert "script" not in page.tags
    assert "link" not in page.tags
    assert "Changed objects (1)" in page.text
    assert "user:alice@example.com" in "".join(page.text)


def test_html_output_escapes_names(tmp_path: Path) -> None:
    base = example_snapshot()
    old = write_snapshot(base, tmp_path / "old.json")
    new = write_snapshot(with_object(base, role_binding("production", "<b>x</b>", "admin", "<script>eve</script>")),
                         tmp_path / "new.json")

    result = _diff(old, new, "-o", "html")

    assert "<script>eve" not in result.stdout
    assert "&lt;script&gt;eve&lt;/script&gt;" in result.stdout
    assert "&lt;b&gt;x&lt;/b&gt;" in result.stdout


@pytest.mark.parametrize("output", ["table", "json", "markdown", "html"])
def test_output_never_contains_canary(snapshots: dict[str, Path], output: str) -> None:
    result = _diff(snapshots["base"], snapshots["grown"], "-o", output, "--limit", "0")

    assert CANARY not in result.stdout
    assert CANARY_BASE64_PREFIX not in result.stdout
