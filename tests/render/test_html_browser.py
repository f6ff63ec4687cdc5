"""Open the HTML report in headless Chromium over the DevTools protocol and check what a reader sees.

Chromium starts with its DevTools port on 127.0.0.1 and loads the report from a file URL; every
background service that could reach the network is switched off. The test of the example estate
also takes the screenshot in docs/report-example.png, which it overwrites only when
BLASTRADIUS_UPDATE_SCREENSHOT=1 is set (otherwise the screenshot goes to a temporary folder).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websocket
from typer.testing import CliRunner

from blastradius.cli.app import app
from tests.queries.test_picture import EXAMPLE_PICTURE_NODES
from tests.render.conftest import HOSTILE_NAME, REPO_ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
START_TIMEOUT_SECONDS = 30
RENDER_TIMEOUT_SECONDS = 20
SCREENSHOT = REPO_ROOT / "docs" / "report-example.png"
VIEWPORT = {"width": 2000, "height": 1250}

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install chromium)")


class DevTools:
    """One page of Chromium, driven over its DevTools WebSocket; events are kept for later checks."""

    def __init__(self, url: str) -> None:
        self.socket = websocket.create_connection(url, timeout=RENDER_TIMEOUT_SECONDS, suppress_origin=True)
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        number = next(self.ids)
        self.socket.send(json.dumps({"id": number, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == number:
                if "error" in message:
                    raise AssertionError(f"DevTools {method} failed: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, path: Path) -> None:
        """Load a file and wait until the report's script marks the graph as drawn."""
        self.call("Page.navigate", url=path.resolve().as_uri())
        deadline = time.monotonic() + RENDER_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.evaluate("document.body && document.body.getAttribute('data-graph-ready')") == "true":
                return
            time.sleep(0.1)
        raise AssertionError(f"the report {path} did not finish drawing within {RENDER_TIMEOUT_SECONDS} s")

    def drain(self) -> list[dict[str, Any]]:
        """Return every event so far, after one round trip so that events the page sent before it have arrived."""
        self.call("Runtime.evaluate", expression="1")
        return self.events

    def errors(self) -> list[str]:
        found = []
        for event in self.drain():
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(params["exceptionDetails"].get("text", "exception"))
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(" ".join(str(arg.get("value", arg.get("description", ""))) for arg in params["args"]))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(params["entry"]["text"])
        return found

    def dialogs(self) -> list[str]:
        return [event["params"]["message"] for event in self.drain() if event.get("method") == "Page.javascriptDialogOpening"]


def _devtools_port(process: subprocess.Popen[str]) -> int:
    """Read the port Chromium picked from the `DevTools listening on ws://127.0.0.1:PORT/...` line."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    assert process.stderr is not None
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line and process.poll() is not None:
            raise AssertionError(f"chromium exited with code {process.returncode} before opening DevTools")
        found = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
        if found:
            return int(found.group(1))
    raise AssertionError(f"chromium did not open DevTools within {START_TIMEOUT_SECONDS} s")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevTools]:
    profile = tmp_path_factory.mktemp("chromium-profile")
    command = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
        f"--window-size={VIEWPORT['width']},{VIEWPORT['height']}", "about:blank",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        port = _devtools_port(process)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
            pages = [target for target in json.load(response) if target["type"] == "page"]
        page = DevTools(pages[0]["webSocketDebuggerUrl"])
        for domain in ("Page", "Runtime", "Log"):
            page.call(f"{domain}.enable")
        page.call("Emulation.setDeviceMetricsOverride", deviceScaleFactor=1, mobile=False, **VIEWPORT)
        yield page
        page.socket.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _report(snapshot: Path, output: Path) -> Path:
    result = CliRunner().invoke(app, ["report", "-s", str(snapshot), "--html", str(output)])
    assert result.exit_code == 0, result.output
    return output


@pytest.fixture(scope="module")
def example_page(browser: DevTools, example_snapshot_file: Path, tmp_path_factory: pytest.TempPathFactory) -> DevTools:
    browser.events.clear()
    browser.open(_report(example_snapshot_file, tmp_path_factory.mktemp("report") / "example.html"))
    return browser


def test_report_shows_example_node_count(example_page: DevTools) -> None:
    assert example_page.evaluate("document.getElementById('node-count').textContent") == str(EXAMPLE_PICTURE_NODES)
    assert example_page.evaluate("document.getElementById('graph')._cyreg.cy.nodes().length") == EXAMPLE_PICTURE_NODES


def test_report_has_no_console_errors(example_page: DevTools) -> None:
    assert example_page.errors() == []


def test_report_area_filter_hides_nodes(example_page: DevTools) -> None:
    hidden = example_page.evaluate("""(() => {
        const box = document.querySelector("#area-filters input[data-area='account:111122223333']");
        box.checked = false;
        box.dispatchEvent(new Event('change'));
        const shown = Number(document.getElementById('node-count').textContent);
        box.checked = true;
        box.dispatchEvent(new Event('change'));
        return shown;
    })()""")

    aws_nodes = example_page.evaluate(
        "document.getElementById('graph')._cyreg.cy.nodes(\"[area = 'account:111122223333']\").length")
    assert hidden == EXAMPLE_PICTURE_NODES - aws_nodes
    assert aws_nodes == 21  # 11 secrets, 5 roles, 3 users, 1 KMS key, "every secret of the account"


def test_report_click_explains_paths(example_page: DevTools) -> None:
    details = example_page.evaluate("""(() => {
        const cy = document.getElementById('graph')._cyreg.cy;
        cy.getElementById('k8s:example:group:dev-team').emit('tap');
        const panel = document.getElementById('details');
        const first = panel.querySelector('details');
        return {title: panel.querySelector('h3').textContent,
                sections: Array.from(panel.querySelectorAll('h4')).map(h => h.textContent),
                steps: Array.from(first.querySelectorAll('li')).length};
    })()""")

    assert details["title"] == "group:dev-team"
    assert [section.split(" (")[0] for section in details["sections"]] == ["Reaches", "Reached by"]
    assert details["steps"] >= 1


def test_report_screenshot_of_example(example_page: DevTools, tmp_path: Path) -> None:
    lit = example_page.evaluate("""(() => {
        const cy = document.getElementById('graph')._cyreg.cy;
        cy.getElementById('k8s:example:group:dev-team').emit('tap');
        document.getElementById('zoom-selection').click();
        document.getElementById('picture').scrollIntoView();
        return cy.nodes().not('.faded').length;
    })()""")
    shot = example_page.call("Page.captureScreenshot", format="png")
    target = SCREENSHOT if os.environ.get("BLASTRADIUS_UPDATE_SCREENSHOT") == "1" else tmp_path / SCREENSHOT.name

    target.write_bytes(base64.b64decode(shot["data"]))

    assert target.read_bytes().startswith(b"\x89PNG")
    assert 1 < lit < EXAMPLE_PICTURE_NODES


def test_report_shows_hostile_name_as_text(browser: DevTools, hostile_snapshot_file: Path, tmp_path: Path) -> None:
    browser.events.clear()
    browser.open(_report(hostile_snapshot_file, tmp_path / "hostile.html"))

    shown = browser.evaluate(f"""(() => {{
        const cy = document.getElementById('graph')._cyreg.cy;
        cy.getElementById({json.dumps("k8s:test:user:" + HOSTILE_NAME)}).emit('tap');
        return {{title: document.querySelector('#details h3').textContent,
                 images: document.querySelectorAll('img').length}};
    }})()""")

    assert shown == {"title": f"user:{HOSTILE_NAME}", "images": 0}
    assert browser.dialogs() == []
    assert browser.errors() == []
