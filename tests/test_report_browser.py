"""The report in a real browser: headless Chromium renders it, every image loads, nothing on the console.

Chromium is driven through the DevTools protocol over a pipe (``--remote-debugging-pipe``: JSON
messages separated by NUL bytes, on file descriptors 3 and 4 of the browser), so nothing beyond
the Debian ``chromium`` package is needed: no websocket client, no driver download. The screenshot
is kept in the test's tmp folder and copied to ``$NUMBABENCH_ARTIFACTS`` when that is set.
"""
from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from test_report import COMMITTED_HISTORY, sample_inputs

TRAMPOLINE = (
    "import fcntl, os, sys\n"
    "r, w = (fcntl.fcntl(int(fd), fcntl.F_DUPFD, 10) for fd in sys.argv[1:3])\n"
    "os.dup2(r, 3); os.dup2(w, 4); os.execv(sys.argv[3], sys.argv[3:])\n"
)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--mute-audio", "--hide-scrollbars", "--remote-debugging-pipe"]


def chromium_binary() -> str | None:
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome", "chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


class Browser:
    """A headless Chromium and one page, spoken to in the DevTools protocol over a pipe."""

    def __init__(self, binary: str, profile: Path, timeout: float = 60.0):
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # the browser reads commands on fd 3 and writes answers on fd 4: a tiny Python trampoline
        # puts the pipe ends there (out of the way first, in case they are 3 or 4 already) and execs it
        cmd = [sys.executable, "-c", TRAMPOLINE, str(to_browser_r), str(from_browser_w), binary, *FLAGS,
               f"--user-data-dir={profile}", "about:blank"]
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, pass_fds=(to_browser_r, from_browser_w), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self.log, start_new_session=True)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.timeout = timeout
        self.next_id = 0
        self.events: list[dict] = []
        self.answers: queue.Queue = queue.Queue()
        self.session = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        buf = b""
        with os.fdopen(self._from_browser, "rb", buffering=0) as f:
            while chunk := f.read(65536):
                buf += chunk
                *msgs, buf = buf.split(b"\0")
                for m in msgs:
                    self.answers.put(json.loads(m))
        self.answers.put(None)

    def send(self, method: str, params: dict | None = None, session: bool = True) -> dict:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(msg).encode() + b"\0")
        return self._wait(lambda m: m.get("id") == self.next_id, f"an answer to {method}")

    def _wait(self, match, what: str) -> dict:
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"chromium gave no {what} in {self.timeout:g} s")
            try:
                m = self.answers.get(timeout=left)
            except queue.Empty:
                continue
            if m is None:
                raise RuntimeError(f"chromium exited while waiting for {what}: {self.last_words()}")
            if "method" in m:
                self.events.append(m)
            if match(m):
                if "error" in m:
                    raise RuntimeError(f"DevTools error for {what}: {m['error']}")
                return m.get("result", m.get("params", {}))

    def last_words(self) -> str:
        self.log.seek(0)
        lines = [ln for ln in self.log.read().decode(errors="replace").splitlines() if "dbus" not in ln]
        return " | ".join(lines[-5:])

    def wait_event(self, method: str) -> dict:
        for m in self.events:
            if m["method"] == method:
                return m["params"]
        return self._wait(lambda m: m.get("method") == method, method)

    def open(self, url: str, width: int = 1280, height: int = 900) -> None:
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]
        for method in ("Runtime.enable", "Log.enable", "Page.enable"):
            self.send(method)
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        self.events.clear()
        self.send("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired")

    def evaluate(self, js: str):
        r = self.send("Runtime.evaluate", {"expression": js, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in r:
            raise RuntimeError(f"page script failed: {r['exceptionDetails']}")
        return r["result"].get("value")

    def screenshot(self, path: Path, width: int = 1280) -> None:
        metrics = self.send("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        height = min(int(size["height"]) + 1, 16000)
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        data = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
        import base64

        path.write_bytes(base64.b64decode(data))

    def errors(self) -> list[str]:
        out = []
        for e in self.events:
            m, p = e["method"], e.get("params", {})
            if m == "Runtime.exceptionThrown":
                out.append(f"exception: {p['exceptionDetails'].get('text')}")
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console.error: " + " ".join(str(a.get("value", a.get("description"))) for a in p["args"]))
            elif m == "Log.entryAdded" and p["entry"].get("level") == "error":
                out.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
        return out

    def close(self):
        try:
            self.send("Browser.close", session=False)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait()
        try:
            os.close(self._to_browser)
        except OSError:
            pass


PAGE_FACTS = """JSON.stringify({
  images: Array.from(document.images).map(i => ({alt: i.alt, w: i.naturalWidth, h: i.naturalHeight,
                                                  complete: i.complete})),
  title: document.title,
  h1: document.querySelector("h1") && document.querySelector("h1").innerText,
  cards: document.querySelectorAll("#headlines .card").length,
  wrongRows: Array.from(document.querySelectorAll("tr.wrong")).map(r => getComputedStyle(r.cells[0]).color),
  overflow: document.documentElement.scrollWidth - window.innerWidth,
  textLength: document.body.innerText.length,
  external: Array.from(document.querySelectorAll("[src],link[href]")).map(e => e.getAttribute("src") || e.getAttribute("href"))
            .filter(u => !u.startsWith("data:")),
})"""


def open_in_chromium(page: Path, shot: Path) -> tuple[dict, list[str]]:
    """Render ``page`` in headless Chromium: the page's facts, the console's errors, a screenshot."""
    binary = chromium_binary()
    if binary is None:
        pytest.skip("no chromium binary (Debian: apt-get install chromium; .ci/run installs it)")
    with tempfile.TemporaryDirectory(prefix="numbabench-chromium-") as profile:
        b = Browser(binary, Path(profile))
        try:
            b.open(page.resolve().as_uri())
            facts = json.loads(b.evaluate(PAGE_FACTS))
            b.screenshot(shot)
            errors = b.errors()
        finally:
            b.close()
    artifacts = os.environ.get("NUMBABENCH_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(artifacts) / shot.name)
    return facts, errors


def assert_renders(facts: dict, errors: list[str], shot: Path) -> None:
    assert errors == [], errors
    assert facts["title"].startswith("numbabench") and "GPU" in facts["h1"]
    broken = [i for i in facts["images"] if not (i["complete"] and i["w"] > 0 and i["h"] > 0)]
    assert broken == [], broken
    assert facts["overflow"] <= 1, "the page scrolls sideways at 1280 px"
    assert facts["external"] == []
    assert shot.stat().st_size > 20_000


HISTORY_FIGURES = {"History across commits (asv) · compute (throughput)",
                   "Numba version against Numba version (asv) · compute (throughput)"}


def test_report_renders_in_headless_chromium(tmp_path):
    from numbabench.report import build

    run, asv = sample_inputs(tmp_path)
    page = build([run], [asv], out=tmp_path / "report")
    shot = tmp_path / "report-screenshot.png"
    facts, errors = open_in_chromium(page, shot)
    assert_renders(facts, errors, shot)
    assert len(facts["images"]) == 6, facts["images"]  # speedup, size, roofline, compile, 2 from asv
    assert HISTORY_FIGURES <= {i["alt"] for i in facts["images"]}
    assert facts["cards"] == 3 and facts["textLength"] > 2000
    assert facts["wrongRows"] and all(c == "rgb(220, 38, 38)" for c in facts["wrongRows"])  # red


@pytest.mark.skipif(not COMMITTED_HISTORY, reason="no asv history committed under reports/<machine>/asv yet")
def test_the_committed_asv_history_renders_in_headless_chromium(tmp_path):
    from numbabench.report import build

    for folder in COMMITTED_HISTORY:
        page = build(asv=[folder], out=tmp_path / folder.parent.name)
        shot = tmp_path / f"history-{folder.parent.name}-screenshot.png"
        facts, errors = open_in_chromium(page, shot)
        assert_renders(facts, errors, shot)
        assert HISTORY_FIGURES <= {i["alt"] for i in facts["images"]}
