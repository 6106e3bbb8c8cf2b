"""Open a report in headless Chromium and say what a person would see: console errors,
requests that left the file (a self-contained page makes none), each plot's size and drawn
series, and a full-page screenshot.

A small Chrome DevTools Protocol client over one WebSocket (``websocket-client``); Chromium
is found with :func:`harness.binaries.find` (Debian package ``chromium``). Every process the
browser starts is stopped before :func:`check_page` returns.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
import websocket

from harness import loopback
from harness.binaries import find
from harness.errors import PlatformError

__all__ = ["CHROMIUM_FLAGS", "PageCheck", "PlotBox", "check_page"]

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
)

_PLOTS_JS = """
Array.from(document.querySelectorAll('svg.plot')).map(s => {
  const r = s.getBoundingClientRect();
  return {
    name: s.dataset.plot || '',
    x: r.left + window.scrollX, y: r.top + window.scrollY, width: r.width, height: r.height,
    series: Array.from(s.querySelectorAll('path.series')).map(p => {
      const b = p.getBBox();
      return {name: p.dataset.series || '', width: b.width, height: b.height,
              length: p.getTotalLength()};
    }),
    bars: s.querySelectorAll('rect.bar').length,
    bands: s.querySelectorAll('rect.band').length,
  };
})
"""


@dataclass(frozen=True)
class PlotBox:
    name: str
    x: float
    y: float
    width: float
    height: float
    series: list[dict[str, Any]]
    """Each drawn line: name, bbox width/height, path length (px)."""
    bars: int
    bands: int


@dataclass
class PageCheck:
    title: str
    console_errors: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    plots: list[PlotBox] = field(default_factory=list)
    screenshot_png: bytes = b""


class _Cdp:
    def __init__(self, url: str, timeout: float) -> None:
        # websocket-client sends through http_proxy from the environment unless given a
        # connected socket (its http_no_proxy option only applies beside an explicit proxy
        # host). Chromium's DevTools socket is on loopback, where no proxy can reach it.
        sock = None
        if loopback.is_loopback(url):
            parts = urlsplit(url)
            sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        self.ws = websocket.create_connection(
            url, timeout=timeout, suppress_origin=True, socket=sock
        )
        self.timeout = timeout
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        msg: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            reply: dict[str, Any] = json.loads(self.ws.recv())
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise PlatformError(f"chromium: {method} failed: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            if "method" in reply:
                self.events.append(reply)
        raise PlatformError(f"chromium: no answer to {method} in {self.timeout} s")

    def wait_event(self, method: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        for ev in self.events:
            if ev.get("method") == method:
                return ev
        while time.monotonic() < deadline:
            event: dict[str, Any] = json.loads(self.ws.recv())
            if "method" in event:
                self.events.append(event)
                if event["method"] == method:
                    return event
        raise PlatformError(f"chromium: no {method} within {timeout} s")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.close()


def check_page(
    path: Path, *, width: int = 1100, height: int = 900, timeout: float = 30.0
) -> PageCheck:
    """Load ``path`` (a local HTML file) in headless Chromium and inspect it."""
    chromium = find("chromium")
    with tempfile.TemporaryDirectory(prefix="msai-chromium-") as profile:
        log = Path(profile) / "stderr.log"
        with log.open("wb") as err:
            proc = subprocess.Popen(
                [
                    chromium,
                    *CHROMIUM_FLAGS,
                    f"--user-data-dir={profile}",
                    f"--window-size={width},{height}",
                    "about:blank",
                ],
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
            )
        cdp: _Cdp | None = None
        try:
            url = _devtools_url(Path(profile), proc, log, timeout)
            cdp = _Cdp(url, timeout)
            return _inspect(cdp, path, timeout)
        finally:
            children: list[psutil.Process] = []
            with contextlib.suppress(psutil.Error):
                children = psutil.Process(proc.pid).children(recursive=True)
            if cdp is not None:
                with contextlib.suppress(Exception):
                    cdp.call("Browser.close")
                cdp.close()
            left = _stop(proc, children)
            if left:
                raise PlatformError(f"chromium processes {left} survived closing")


def _inspect(cdp: _Cdp, path: Path, timeout: float) -> PageCheck:
    target = cdp.call("Target.createTarget", url="about:blank")["targetId"]
    session = cdp.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    for domain in ("Runtime", "Log", "Page", "Network"):
        cdp.call(f"{domain}.enable", session)
    cdp.events.clear()
    cdp.call("Page.navigate", session, url=path.resolve().as_uri())
    cdp.wait_event("Page.loadEventFired", timeout)
    # A round trip after load: events raised during load arrive before its answer.
    title = cdp.call("Runtime.evaluate", session, expression="document.title", returnByValue=True)
    plots = cdp.call("Runtime.evaluate", session, expression=_PLOTS_JS, returnByValue=True)
    metrics = cdp.call("Page.getLayoutMetrics", session)
    size = metrics.get("cssContentSize") or metrics["contentSize"]
    shot = cdp.call(
        "Page.captureScreenshot",
        session,
        format="png",
        captureBeyondViewport=True,
        clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
    )
    check = PageCheck(title=str(title["result"].get("value", "")))
    check.screenshot_png = base64.b64decode(shot["data"])
    check.plots = [PlotBox(**p) for p in plots["result"].get("value", [])]
    for ev in cdp.events:
        method, p = ev["method"], ev.get("params", {})
        if method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            text = d.get("exception", {}).get("description") or d.get("text", "exception")
            check.console_errors.append(f"exception: {text}")
        elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"])
            check.console_errors.append(f"console.{p['type']}: {args}")
        elif method == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            check.console_errors.append(f"log: {p['entry'].get('text', '')}")
        elif method == "Network.requestWillBeSent":
            req_url = str(p.get("request", {}).get("url", ""))
            if not req_url.startswith(("file:", "data:", "about:")):
                check.external_requests.append(req_url)
    return check


def _devtools_url(profile: Path, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> str:
    """Chromium writes its DevTools port and browser path to DevToolsActivePort."""
    active = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-800:]
            raise PlatformError(f"chromium exited with {proc.returncode} at start: {tail}")
        lines = active.read_text().split("\n") if active.exists() else []
        if len(lines) >= 2 and lines[0].strip().isdigit() and lines[1].strip():
            return f"ws://127.0.0.1:{lines[0].strip()}{lines[1].strip()}"
        time.sleep(0.05)
    raise PlatformError(f"chromium did not open its DevTools port within {timeout} s")


def _stop(proc: subprocess.Popen[bytes], children: list[psutil.Process]) -> list[int]:
    """Wait for the browser to exit after Browser.close; kill what remains; report leftovers."""
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    _, alive = psutil.wait_procs(children, timeout=5)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()
    _, alive = psutil.wait_procs(alive, timeout=5)
    return [p.pid for p in alive]
