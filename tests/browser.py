"""Headless Chromium driven over the DevTools protocol, as a test helper.

Debian's `chromium` (installed by `make browser`), started with a fresh profile and every
background service off (the machine has no network), on a DevTools port on 127.0.0.1.
It records what a page logs as an error and every request it makes, and takes screenshots.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Final

from websockets.sync.client import ClientConnection, connect

from tests.closing import ClosedOnExit

CHROMIUM: Final = Path("/usr/bin/chromium")
FLAGS: Final = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)
#: A laptop screen.
WIDTH, HEIGHT = 1366, 860
#: A phone's screen (an iPhone 12 to 15, in CSS pixels).
PHONE_WIDTH, PHONE_HEIGHT = 390, 844


class BrowserMissing(RuntimeError):
    """Chromium is not installed where the tests look for it."""


class Page:
    """One tab: commands and the events they cause."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.events: list[dict[str, Any]] = []
        self.next_id = 0
        self.width = WIDTH

    def send(self, method: str, timeout: float = 60, **params: Any) -> dict[str, Any]:
        """Send a command and return its result; events meanwhile are kept."""
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.socket.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            if "method" in message:
                self.events.append(message)

    def wait_for(self, event: str, timeout: float = 60) -> dict[str, Any]:
        """The first event of that name (already received or still to come)."""
        for message in self.events:
            if message["method"] == event:
                return message
        deadline = time.monotonic() + timeout
        while True:
            received: dict[str, Any] = json.loads(
                self.socket.recv(timeout=max(0.1, deadline - time.monotonic()))
            )
            if "method" in received:
                self.events.append(received)
                if received["method"] == event:
                    return received

    def open(
        self, url: str, *, width: int = WIDTH, height: int = HEIGHT, mobile: bool = False
    ) -> None:
        """Navigate to the URL on a screen of that size and wait until it has loaded; the
        events kept from then on are this page's. `mobile` emulates a phone: the page's
        viewport meta tag applies, and a page wider than the screen is zoomed out to fit
        (so `window.innerWidth` grows with it)."""
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=mobile,
        )
        self.width = width
        self.events.clear()
        self.send("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (as JSON)."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluation failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    @property
    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and error log entries, as text."""
        found = []
        for event in self.events:
            params = event["params"]
            if event["method"] == "Runtime.consoleAPICalled" and params["type"] in (
                "error",
                "assert",
            ):
                found.append(" ".join(str(arg.get("value")) for arg in params["args"]))
            elif event["method"] == "Runtime.exceptionThrown":
                found.append(params["exceptionDetails"].get("text", "exception"))
            elif event["method"] == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(params["entry"]["text"])
        return found

    @property
    def requests(self) -> list[str]:
        """Every URL the page requested, in order."""
        return [
            event["params"]["request"]["url"]
            for event in self.events
            if event["method"] == "Network.requestWillBeSent"
        ]

    def screenshot(self, path: Path, max_height: int = 16000) -> Path:
        """A PNG of the whole page (up to max_height CSS pixels)."""
        metrics = self.send("Page.getLayoutMetrics")
        size = metrics["cssContentSize"]
        clip = {
            "x": 0,
            "y": 0,
            "width": self.width,
            "height": min(max_height, int(size["height"])),
            "scale": 1,
        }
        shot = self.send(
            "Page.captureScreenshot", format="png", clip=clip, captureBeyondViewport=True
        )
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


class Chromium(ClosedOnExit):
    """Headless Chromium with a fresh profile, stopped on exit."""

    def __init__(self, timeout: float = 60) -> None:
        if not CHROMIUM.exists():
            raise BrowserMissing(
                f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium "
                "chromium-driver) before the tests"
            )
        self.profile = Path(tempfile.mkdtemp(prefix="chromium-profile-"))
        self.process = subprocess.Popen(
            [str(CHROMIUM), *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        active = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not (active.exists() and len(active.read_text().split()) >= 2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"{CHROMIUM} did not open its DevTools port")
            time.sleep(0.05)
        self.port = int(active.read_text().split()[0])

    def page(self) -> Page:
        """The blank tab Chromium opened with."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=30) as r:
            targets = json.load(r)
        target = next(t for t in targets if t["type"] == "page")
        return Page(connect(target["webSocketDebuggerUrl"], max_size=None, open_timeout=30))

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)
        shutil.rmtree(self.profile, ignore_errors=True)
