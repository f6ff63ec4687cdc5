"""Fixtures shared across test folders."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

MOTO_START_TIMEOUT_SECONDS = 30


@pytest.fixture(scope="session", autouse=True)
def graph_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point the graph cache at a private folder of the test session, so tests never write the user's cache.

    Set in os.environ, so CLI commands that tests start as subprocesses use it too.
    """
    folder = tmp_path_factory.mktemp("graph-cache")
    previous = os.environ.get("BLASTRADIUS_CACHE_DIR")
    os.environ["BLASTRADIUS_CACHE_DIR"] = str(folder)
    yield folder
    if previous is None:
        del os.environ["BLASTRADIUS_CACHE_DIR"]
    else:
        os.environ["BLASTRADIUS_CACHE_DIR"] = previous


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _moto_command(port: int) -> list[str]:
    executable = Path(sys.executable).with_name("moto_server")
    if executable.exists():
        return [str(executable), "-H", "127.0.0.1", "-p", str(port)]
    return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]


def _wait_until_answering(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + MOTO_START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"moto_server exited with code {process.returncode} before answering on {url}")
        try:
            with urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=1):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    pytest.fail(f"moto_server did not answer on {url} within {MOTO_START_TIMEOUT_SECONDS} s")


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """Start moto_server on a free 127.0.0.1 port and yield its URL.

    Tests reset its state with `POST /moto-api/reset`. AWS-managed IAM policies are not loaded
    (moto's default), which keeps each IAM call fast.
    """
    port = _free_port()
    process = subprocess.Popen(_moto_command(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_answering(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
