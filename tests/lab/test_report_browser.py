"""The HTML report in headless Chromium: no console errors, nothing external, the ladder drawn.

Chromium and a tiny HTTP server run inside a network namespace of their own (loopback only).
The server is also Chromium's proxy, so every request the page makes, to any host, reaches it
and is logged; a control page with an external image and a console error proves both checks
can fail. The report of the ``dual-l3`` lab scenario comes from its real captures through the
analysis pipeline; a hand-built analysis of the same incident is checked too. Screenshots
(1280x900 and full height) are kept under ``artifacts/``.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from html import escape as html_escape
from pathlib import Path

import pytest

from conftest import require_root, require_tool
from fixtures.report_analysis import dual_l3_analysis
from nettrail.lab.pytest_plugin import LabFactory
from nettrail.model.analysis import Analysis
from nettrail.report import html
from nettrail.report.ladder import build_ladders, failing_index
from nettrail.run import analyze_files

pytestmark = [pytest.mark.slow, pytest.mark.root]

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-features=NetworkTimeServiceQuerying", "--disable-extensions",
    "--enable-logging=stderr", "--v=0",
)
BROWSER_SERVICES = ("update.googleapis.com", "clients2.google.com")
"""Chromium's own update and time services: it calls them whatever the page does."""
SERVER = r"""
import functools, http.server, os, sys
class Handler(http.server.SimpleHTTPRequestHandler):
    def end_headers(self):
        # every load a request: a page served moments after it was written is otherwise
        # fresh in Chromium's cache by its Last-Modified alone, and the next run of the
        # same profile may read it from there (a request the log then lacks)
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, fmt, *args):
        referer = self.headers.get("Referer", "-") if hasattr(self, "headers") else "-"
        # one write per line: print() writes its pieces one by one, and the lines of two
        # threads (a page request and Chromium's own) interleave into one under load
        os.write(1, f"REQUEST {self.requestline} REFERER {referer}\n".encode())
server = http.server.ThreadingHTTPServer(
    ("127.0.0.1", 0), functools.partial(Handler, directory=sys.argv[1]))
print("PORT", server.server_address[1], flush=True)
server.serve_forever()
"""
LOGGED = re.compile(r"REQUEST (?P<request>[A-Z]+ \S+ HTTP/\d\.\d) REFERER (?P<referer>\S+)")
"""A line of the server's log; anything else (two lines run together) fails the test."""
CONTROL = """<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body>
<img src="http://203.0.113.99/pixel.png"><script>console.error("control error")</script>
</body></html>
"""


class Browser:
    """Chromium in namespace ``ns``, proxied through a logging server that serves ``root``."""

    def __init__(self, ns: str, root: Path, chromium: str) -> None:
        self.ns, self.root, self.chromium = ns, root, chromium
        self.server = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-c", SERVER, str(root)],
            stdout=subprocess.PIPE, text=True,
        )
        assert self.server.stdout is not None
        line = self.server.stdout.readline()
        assert line.startswith("PORT "), f"server did not start: {line!r}"
        self.port = int(line.split()[1])

    def run(self, page: str, *args: str) -> tuple[str, str]:
        """Chromium's stdout and its stderr log after loading ``page`` from the server."""
        argv = ["ip", "netns", "exec", self.ns, self.chromium, *CHROMIUM_FLAGS,
                f"--user-data-dir={self.root / 'chromium-profile'}",
                f"--proxy-server=http://127.0.0.1:{self.port}", *args,
                f"http://127.0.0.1:{self.port}/{page}"]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout, done.stderr

    def requests(self) -> list[tuple[str, str]]:
        """(request line, referer) of every request the server saw, once it has stopped."""
        self.server.terminate()
        out, _ = self.server.communicate(timeout=10)
        found = []
        for line in out.splitlines():
            logged = LOGGED.fullmatch(line)
            assert logged is not None, f"server log line not understood: {line!r}"
            found.append((logged["request"], logged["referer"]))
        return found


def from_page(requests: list[tuple[str, str]]) -> list[str]:
    """Requests other than Chromium's own (its services, the tab icon): the pages' doing."""
    out = []
    for request, referer in requests:
        target = request.split()[1] if len(request.split()) > 1 else ""
        host = re.sub(r"^(?:https?://)?([^/:]+).*$", r"\1", target)
        own = host in BROWSER_SERVICES or target.endswith("/favicon.ico")
        if not own or referer != "-":
            out.append(request)
    return out


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    """A loopback-only namespace with the logging server; removed afterwards."""
    require_root()
    require_tool("ip")
    chromium = require_tool("chromium")
    ns = f"ntG-browser-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    proc: Browser | None = None
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        proc = Browser(ns, tmp_path, chromium)
        yield proc
    finally:
        if proc is not None and proc.server.poll() is None:
            proc.server.kill()
            proc.server.wait(timeout=10)
        subprocess.run(["ip", "netns", "del", ns], check=False)


def console_lines(log: str) -> list[str]:
    """Console messages (errors, CSP violations, uncaught exceptions) in Chromium's log.

    Messages of Chromium's own pages (``source: chrome://…``, e.g. its "slow network"
    font notice) are not the report's and are left out.
    """
    return [line for line in log.splitlines()
            if ":CONSOLE" in line and "source: chrome://" not in line]


class Shown:
    """What Chromium made of a report: DOM after scripts, logs, requests, screenshots."""

    def __init__(self, browser: Browser, analysis: Analysis, name: str) -> None:
        out = io.StringIO()
        html.render(analysis, out)
        (browser.root / "report.html").write_text(out.getvalue(), encoding="utf-8")
        self.dom, log = browser.run("report.html", "--dump-dom")
        ARTIFACTS.mkdir(exist_ok=True)
        self.shots = [ARTIFACTS / f"{name}.png", ARTIFACTS / f"{name}-full.png"]
        _, shot_log = browser.run("report.html", f"--screenshot={self.shots[0]}",
                                  "--window-size=1280,900", "--hide-scrollbars")
        _, full_log = browser.run("report.html", f"--screenshot={self.shots[1]}",
                                  "--window-size=1280,2400", "--hide-scrollbars")
        self.console = console_lines(log + shot_log + full_log)
        for shot in self.shots:
            print(f"screenshot: {shot}")

    def view(self, index: int) -> str:
        """The DOM text of ladder view ``index``."""
        start = self.dom.index(f'id="ladder-{index}"')
        end = self.dom.find('<div class="ladder-view"', start + 1)
        return self.dom[start:end if end >= 0 else self.dom.index("</section>", start)]

    def check_page(self, analysis: Analysis) -> str:
        """The checks every report passes; returns the DOM of the ladder shown at first."""
        assert self.console == []
        assert not re.search(r"""(?:src|href)=["']?(?:https?:)?//""", self.dom)
        assert analysis.diagnosis is not None
        headline = html_escape(analysis.diagnosis.headline, quote=False)
        assert f'<section id="diagnosis"><h2>{headline}</h2>' in self.dom
        ladders = build_ladders(analysis)
        views = re.findall(r'<div class="ladder-view" id="(ladder-\d+)"( hidden="")?', self.dom)
        assert len(views) == len(ladders)
        chosen = failing_index(analysis, ladders)
        assert [v for v, hidden in views if not hidden] == [f"ladder-{chosen}"]
        shown = self.view(chosen)
        assert shown.count('class="lane"') == len(ladders[chosen].lanes)
        assert len(re.findall(r'class="arrow[ "]', shown)) == len(ladders[chosen].arrows)
        for shot in self.shots:
            assert shot.stat().st_size > 20_000
        return shown


def test_lab_dual_l3_report_in_chromium(browser: Browser, lab_scenario: LabFactory,
                                        tmp_path: Path) -> None:
    """The real incident: lab captures, the analysis pipeline, the page in Chromium."""
    run = lab_scenario("dual-l3").run(tmp_path / "run")
    result = analyze_files(run.captures, ifnames=run.ifnames)
    assert result.errors == ()
    analysis = result.analysis
    shown = Shown(browser, analysis, "report-dual-l3")
    ladder = shown.check_page(analysis)
    assert "two L3" in shown.dom
    lanes = re.findall(r'<g class="lane" data-lane="([^"]+)"', ladder)
    assert {lane.split("/")[0] for lane in lanes} >= {"client", "netnode", "compute", "vm"}
    assert any(lane.startswith("qrouter-") for lane in lanes)
    assert "DNAT→198.51.100.4:22" in ladder  # the router's DNAT of the floating IP
    assert re.search(r'class="arrow reset[^"]*highlight', ladder)  # the cited RST
    assert re.search(r'class="arrow reply[^"]*highlight', ladder)  # the bypassing SYN-ACK
    assert from_page(browser.requests()) == ["GET /report.html HTTP/1.1"] * 3


def test_hand_built_report_and_controls_in_chromium(browser: Browser) -> None:
    """The fixed analysis, and a control page proving the console and request checks bite."""
    analysis = dual_l3_analysis()
    shown = Shown(browser, analysis, "report-hand-built")
    ladder = shown.check_page(analysis)
    assert "DNAT→198.18.0.5:80" in ladder
    assert len(re.findall(r'class="arrow [^"]*highlight', ladder)) == 7
    (browser.root / "control.html").write_text(CONTROL, encoding="utf-8")
    _, control_log = browser.run("control.html", "--dump-dom")
    page_requests = from_page(browser.requests())
    assert any("control error" in line for line in console_lines(control_log))
    assert "GET http://203.0.113.99/pixel.png HTTP/1.1" in page_requests
    control = {"GET /control.html HTTP/1.1", "GET http://203.0.113.99/pixel.png HTTP/1.1"}
    assert [r for r in page_requests if r not in control] == ["GET /report.html HTTP/1.1"] * 3
