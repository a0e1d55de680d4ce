"""Headless Chromium driven over the DevTools protocol, for the browser tests.

Why not `--dump-dom` alone: a test also needs to type into a login form, wait for a page that
JavaScript builds, read image sizes and see every request a page made. Chromium's own DevTools
protocol over a websocket (the `websockets` package is already installed) does all of that
without playwright. The network is cut by default (every host name resolves to nothing except
127.0.0.1), so a page that needs a CDN shows up as blank or as a failed request.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"


def require_chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI: run scripts/install-chromium.sh")
        pytest.skip("chromium is not installed (scripts/install-chromium.sh installs it)")
    return CHROMIUM


# DevTools' answers when an evaluation's page went away under it (a navigation)
NAVIGATED = ("Inspected target navigated or closed", "Execution context was destroyed",
             "Cannot find context with specified id")


class Browser:
    """One headless Chromium and one page; `with Browser(profile) as b:` stops it on exit."""

    def __init__(self, profile: Path, *, offline: bool = True) -> None:
        self.profile = profile
        self.offline = offline
        self.requests: list[str] = []
        self.failed: list[str] = []
        self._ids = itertools.count(1)
        self._proc: subprocess.Popen[bytes] | None = None
        self._ws: ClientConnection | None = None
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Browser:
        chromium = require_chromium()
        self.profile.mkdir(parents=True, exist_ok=True)
        (self.profile / "DevToolsActivePort").unlink(missing_ok=True)  # a previous browser's
        args = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1", f"--user-data-dir={self.profile}",
                "--window-size=1280,1600"]
        if self.offline:
            args.append(OFFLINE)
        self._proc = subprocess.Popen([*args, "about:blank"], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            port = self._port()
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
                pages = [t for t in json.load(r) if t["type"] == "page"]
            self._ws = self._stack.enter_context(
                connect(pages[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=10))
            self.send("Page.enable")
            self.send("Network.enable")
            self.send("Runtime.enable")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _port(self) -> int:
        marker = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if marker.is_file() and marker.read_text().strip():
                return int(marker.read_text().split()[0])
            time.sleep(0.1)
        raise TimeoutError("chromium did not open its DevTools port")

    def __exit__(self, *exc: object) -> None:
        self._stack.close()
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, 15)
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, 9)
                self._proc.wait()

    def _event(self, message: dict[str, Any]) -> None:
        method, params = message.get("method"), message.get("params") or {}
        if method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        elif method == "Network.loadingFailed":
            self.failed.append(params.get("errorText", ""))

    def send(self, method: str, params: dict[str, Any] | None = None,
             timeout: float = 30) -> dict[str, Any]:
        assert self._ws is not None
        msg_id = next(self._ids)
        self._ws.send(json.dumps({"id": msg_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self._ws.recv(timeout=max(deadline - time.monotonic(), 0.1)))
            if message.get("id") == msg_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result") or {}
            self._event(message)

    def pump(self, seconds: float) -> None:
        """Read events (requests made) for a while."""
        assert self._ws is not None
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                self._event(json.loads(self._ws.recv(timeout=left)))
            except TimeoutError:
                return

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression,
                                                "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def goto(self, url: str) -> None:
        self.send("Page.navigate", {"url": url})
        self.wait_for("document.readyState === 'complete'", timeout=30)

    def wait_for(self, expression: str, timeout: float = 30) -> Any:
        """Poll a JavaScript expression until it is truthy; its value. An evaluation cut off
        by the page navigating (a redirect, e.g. to the login form) counts as "not yet": the
        next poll runs in the new page (seen under load: 'Inspected target navigated or
        closed')."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = self.evaluate(expression)
            except RuntimeError as exc:
                if not any(s in str(exc) for s in NAVIGATED) or time.monotonic() > deadline:
                    raise
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"not true after {timeout} s: {expression}")
            self.pump(0.25)

    def text(self) -> str:
        return self.evaluate("document.body ? document.body.innerText : ''") or ""

    def images(self) -> list[dict[str, Any]]:
        """Every <img>: its source scheme, whether it decoded, and its natural size."""
        return self.evaluate(
            "Array.from(document.images).map(i => ({scheme: i.src.split(':')[0],"
            " complete: i.complete, width: i.naturalWidth, height: i.naturalHeight,"
            " alt: i.alt}))")

    def external_requests(self) -> list[str]:
        """Requests that left the page's own origin (file: and data: excluded)."""
        return [u for u in self.requests
                if not u.startswith(("file:", "data:", "about:", "blob:", "http://127.0.0.1"))]
