"""Input files over the size limit, binary files and streams without a size, in both offline collectors.

A file over the limit is rejected from its size alone: the sparse 64 GiB files below would take
minutes and all memory to read. Streams without a size (standard input, devices) are read only
up to the limit plus one byte.
"""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from blastradius.cli.app import app
from blastradius.collectors.aws_files import collect_aws_files
from blastradius.collectors.errors import CollectionError
from blastradius.collectors.input_limits import DEFAULT_MAX_FILE_BYTES, MIB, format_size
from blastradius.collectors.manifests import ManifestError, collect_manifests
from tests.hardening import estate

NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: payments\n"
HUGE = 64 * 1024 * MIB


def sparse_file(path: Path, size: int) -> Path:
    """Create a file of `size` bytes that takes no disk space."""
    with path.open("wb") as handle:
        handle.truncate(size)
    return path


def padded_manifest(path: Path, size: int) -> Path:
    """Write a valid Namespace manifest padded with a YAML comment to exactly `size` bytes."""
    padding = size - len(NAMESPACE) - 2
    path.write_text(NAMESPACE + "#" + "x" * padding + "\n", encoding="ascii")
    assert path.stat().st_size == size
    return path


def test_default_limit_is_256_mib() -> None:
    assert DEFAULT_MAX_FILE_BYTES == 256 * MIB


@pytest.mark.parametrize(("size", "text"), [(512, "512 bytes"), (MIB, "1 MiB"), (1536 * 1024, "1.5 MiB"), (HUGE, "65536 MiB")],
                         ids=["bytes", "one-mib", "fraction", "huge"])
def test_size_formatted_for_messages(size: int, text: str) -> None:
    assert format_size(size) == text


def test_huge_manifest_rejected_by_size(tmp_path: Path) -> None:
    path = sparse_file(tmp_path / "dump.yaml", HUGE)

    with pytest.raises(ManifestError) as raised:
        collect_manifests([str(path)], "payments")

    assert str(raised.value) == (
        f"{path}: 65536 MiB, larger than the 256 MiB input size limit; split the file or raise --max-file-size"
    )


def test_huge_file_in_folder_rejected(tmp_path: Path) -> None:
    (tmp_path / "00-namespace.yaml").write_text(NAMESPACE, encoding="ascii")
    sparse_file(tmp_path / "10-dump.json", HUGE)

    with pytest.raises(ManifestError) as raised:
        collect_manifests([str(tmp_path)], "payments")

    assert str(raised.value).startswith(f"{tmp_path / '10-dump.json'}: 65536 MiB, larger than")


def test_huge_aws_json_rejected_by_size(tmp_path: Path) -> None:
    path = sparse_file(tmp_path / "authorization-details.json", HUGE)

    with pytest.raises(CollectionError) as raised:
        collect_aws_files([str(path)])

    assert str(raised.value) == (
        f"{path}: 65536 MiB, larger than the 256 MiB input size limit; split the file or raise --max-file-size"
    )


def test_manifest_at_limit_accepted(tmp_path: Path) -> None:
    path = padded_manifest(tmp_path / "namespace.yaml", 4096)

    collection = collect_manifests([str(path)], "payments", max_file_bytes=4096)

    assert [obj["metadata"]["name"] for obj in collection.clusters[0]["objects"]] == ["payments"]


def test_manifest_one_byte_over_rejected(tmp_path: Path) -> None:
    path = padded_manifest(tmp_path / "namespace.yaml", 4097)

    with pytest.raises(ManifestError) as raised:
        collect_manifests([str(path)], "payments", max_file_bytes=4096)

    assert str(raised.value) == (
        f"{path}: 4,097 bytes, larger than the 4,096 bytes input size limit; split the file or raise --max-file-size"
    )


def test_stdin_bytes_over_limit_rejected() -> None:
    stdin = io.TextIOWrapper(io.BytesIO((NAMESPACE * 100).encode()), encoding="utf-8")

    with pytest.raises(ManifestError) as raised:
        collect_manifests(["-"], "payments", stdin=stdin, max_file_bytes=1000)

    assert str(raised.value) == "<stdin>: larger than the 1,000 bytes input size limit; split the file or raise --max-file-size"


def test_stdin_text_over_limit_rejected() -> None:
    with pytest.raises(ManifestError) as raised:
        collect_manifests(["-"], "payments", stdin=io.StringIO(NAMESPACE * 100), max_file_bytes=1000)

    assert str(raised.value) == "<stdin>: larger than the 1,000 bytes input size limit; split the file or raise --max-file-size"


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs the /dev/zero character device")
def test_endless_device_read_bounded() -> None:
    with pytest.raises(CollectionError) as raised:
        collect_aws_files(["/dev/zero"], max_file_bytes=MIB)

    assert str(raised.value) == "/dev/zero: larger than the 1 MiB input size limit; split the file or raise --max-file-size"


def test_fifo_manifest_read(tmp_path: Path) -> None:
    fifo = tmp_path / "manifests.yaml"
    os.mkfifo(fifo)
    writer = threading.Thread(target=fifo.write_text, args=(NAMESPACE,), kwargs={"encoding": "ascii"})
    writer.start()

    collection = collect_manifests([str(fifo)], "payments")
    writer.join(timeout=10)

    assert [obj["metadata"]["name"] for obj in collection.clusters[0]["objects"]] == ["payments"]


# --- through the CLI -------------------------------------------------------------------------------


def test_cli_max_file_size_rejects_manifest(tmp_path: Path) -> None:
    path = padded_manifest(tmp_path / "namespace.yaml", 3 * MIB // 2)
    output = tmp_path / "snapshot.json"

    result = CliRunner().invoke(app, ["collect", "--manifests", str(path), "--max-file-size", "1", "-o", str(output)])

    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {path}: 1.5 MiB, larger than the 1 MiB input size limit; split the file or raise --max-file-size; "
        "no snapshot was written\n"
    )
    assert not output.exists()


def test_cli_max_file_size_rejects_aws_json(tmp_path: Path) -> None:
    path = tmp_path / "aws.json"
    path.write_text('{"Format": "blastradius-aws-bundle/1", "Regions": [' + '"us-east-1", ' * 200_000 + '"us-east-1"]}')

    result = CliRunner().invoke(app, ["collect", "--aws-json", str(path), "--max-file-size", "1", "-o", str(tmp_path / "s.json")])

    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path}: 2.5 MiB, larger than the 1 MiB input size limit")


def test_cli_max_file_size_below_one_rejected(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["collect", "--manifests", str(tmp_path), "--max-file-size", "0"])

    assert result.exit_code == 2
    assert "--max-file-size" in result.stderr


def test_cli_help_documents_limits() -> None:
    result = CliRunner().invoke(app, ["collect", "--help"], env={"COLUMNS": "400"})

    assert "Largest manifest or --aws-json file to read, in MiB. A larger file is rejected before it is read." in result.stdout
    assert "[default: 256]" in result.stdout
    assert "other files are skipped. A manifest file that is not UTF-8 or UTF-16 text (NUL bytes, invalid UTF-8) is an error." in (
        result.stdout)


def test_cli_binary_manifest_in_folder_rejected(tmp_path: Path) -> None:
    estate.write_manifests(tmp_path, estate.manifests())
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (tmp_path / "secrets.yaml").write_bytes(b"apiVersion: v1\nkind: Secret\n\x00\x01\x02" + estate.CANARY.encode())

    result = CliRunner().invoke(app, ["collect", "--manifests", str(tmp_path), "-o", str(tmp_path / "s.json")])

    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {tmp_path / 'secrets.yaml'}: not a text file (it contains NUL bytes): expected YAML or JSON manifests; "
        "no snapshot was written\n"
    )


def test_cli_other_files_in_folder_skipped(tmp_path: Path) -> None:
    estate.write_manifests(tmp_path, estate.manifests())
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (tmp_path / "README.md").write_bytes(b"\xff\xfe not UTF-8 either")

    result = CliRunner().invoke(app, ["collect", "--manifests", str(tmp_path), "-o", str(tmp_path / "s.json")])

    assert result.exit_code == 0
    assert "26 objects" in result.stderr
