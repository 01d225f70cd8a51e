"""A tiny Chrome DevTools Protocol client over ``--remote-debugging-pipe`` (stdlib only).

Opens pages in real headless Debian ``chromium`` and records what a page did: console calls,
uncaught exceptions, browser log entries (CSP violations and failed loads are logged at level
``error``), JavaScript dialogs and every network request. Used by ``tests/workflow/test_report_browser.py``.

Pipe protocol: chromium reads JSON messages from fd 3 and writes to fd 4, each terminated by NUL.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--mute-audio",
    "--hide-scrollbars",
]


def chromium_path() -> str | None:
    for cand in (CHROMIUM, shutil.which("chromium"), shutil.which("chromium-browser")):
        if cand and os.path.exists(cand) and os.access(cand, os.X_OK):
            return cand
    return None


@dataclass
class PageRecord:
    url: str
    console: list = field(default_factory=list)  # (type, text)
    exceptions: list = field(default_factory=list)  # text
    log_errors: list = field(default_factory=list)  # (source, level, text, url)
    log_all: list = field(default_factory=list)
    dialogs: list = field(default_factory=list)  # (type, message)
    requests: list = field(default_factory=list)  # url
    failed: list = field(default_factory=list)  # (url, errorText), not counting blocked ones
    blocked: list = field(default_factory=list)  # (url, blockedReason), e.g. "csp"
    loaded: bool = False

    @property
    def errors(self) -> list[str]:
        """Everything that counts as a console error: error-level console calls, exceptions,
        error-level log entries (CSP violations, failed loads) and failed requests."""
        out = [f"console.{t}: {x}" for t, x in self.console if t in ("error", "assert")]
        out += [f"exception: {x}" for x in self.exceptions]
        out += [f"log[{s}]: {x} ({u})" for s, _, x, u in self.log_errors]
        out += [f"request failed: {u}: {e}" for u, e in self.failed]
        return out


class Browser:
    """``with Browser() as b: rec = b.open(path_or_url, screenshot=...)``"""

    def __init__(self, timeout: float = 30.0, extra_flags=()):
        self.timeout = timeout
        self.extra_flags = list(extra_flags)
        self._id = 0
        self._buf = b""
        self._events: list = []
        self.stderr_path = None

    # -- process
    def __enter__(self):
        exe = chromium_path()
        if exe is None:
            raise RuntimeError("chromium not found")
        self._profile = tempfile.mkdtemp(prefix="trialmeta-chromium-")
        to_child_r, self._to_child_w = os.pipe()
        self._from_child_r, from_child_w = os.pipe()

        def _fds():  # runs in the child: put the pipe ends at fd 3 (read) and fd 4 (write)
            a, b = os.dup(to_child_r), os.dup(from_child_w)  # a < b, both >= 3
            if a != 3:
                os.dup2(a, 3)
            os.dup2(b, 4)
            # dup() gives close-on-exec fds and dup2(3, 3) is a no-op: clear the flag explicitly
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)

        self.stderr_path = Path(self._profile) / "stderr.log"
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [
                exe,
                *FLAGS,
                *self.extra_flags,
                f"--user-data-dir={self._profile}",
                "--remote-debugging-pipe",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            preexec_fn=_fds,
            close_fds=False,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self.call("Target.setDiscoverTargets", {"discover": True})
        return self

    def __exit__(self, *exc):
        try:
            if self.proc.poll() is None:
                try:
                    self._send("Browser.close", {})
                except OSError:
                    pass
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=10)
        finally:
            for fd in (self._to_child_w, self._from_child_r):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self._stderr.close()
            shutil.rmtree(self._profile, ignore_errors=True)
        return False

    # -- protocol
    def _send(self, method, params, session=None) -> int:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self._to_child_w, json.dumps(msg).encode() + b"\0")
        return self._id

    def _read_message(self, deadline):
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self._from_child_r], [], [], left)
            if not r:
                return None
            chunk = os.read(self._from_child_r, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method, params=None, session=None, timeout=None):
        mid = self._send(method, params or {}, session)
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            msg = self._read_message(deadline)
            if msg is None:
                raise TimeoutError(f"no reply to {method}")
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self._event(msg)

    def _event(self, msg):
        self._events.append(msg)
        if (
            msg["method"] == "Page.javascriptDialogOpening"
        ):  # never leave a page blocked on a dialog
            self._send("Page.handleJavaScriptDialog", {"accept": True}, msg.get("sessionId"))

    def pump(self, seconds: float):
        deadline = time.monotonic() + seconds
        while True:
            msg = self._read_message(deadline)
            if msg is None:
                return
            if "method" in msg:
                self._event(msg)

    # -- high level
    def open(
        self,
        target,
        *,
        screenshot: Path | None = None,
        width=1280,
        settle=0.8,
        evaluate: dict | None = None,
    ) -> PageRecord:
        """Open ``target`` (path or URL) in a new tab, wait for load, record events.

        ``evaluate``: {name: js expression} evaluated through DevTools after load (not subject to
        the page's CSP); results land in ``record.values``.
        """
        url = (
            Path(target).resolve().as_uri()
            if not str(target).startswith(("file:", "http:", "https:", "about:", "data:"))
            else str(target)
        )
        tid = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        sid = self.call("Target.attachToTarget", {"targetId": tid, "flatten": True})["sessionId"]
        for m in ("Page.enable", "Runtime.enable", "Log.enable", "Network.enable"):
            self.call(m, {}, sid)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False},
            sid,
        )
        self._events = []
        rec = PageRecord(url=url)
        self.call("Page.navigate", {"url": url}, sid)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline and not rec.loaded:
            msg = self._read_message(deadline)
            if msg is None:
                break
            if "method" in msg:
                self._event(msg)
                if msg["method"] == "Page.loadEventFired" and msg.get("sessionId") == sid:
                    rec.loaded = True
        self.pump(settle)
        rec.values = {}
        for name, expr in (evaluate or {}).items():
            res = self.call("Runtime.evaluate", {"expression": expr, "returnByValue": True}, sid)
            rec.values[name] = res.get("result", {}).get("value")
        if screenshot is not None:
            metrics = self.call("Page.getLayoutMetrics", {}, sid)
            h = int(
                min(
                    6000,
                    max(
                        600,
                        metrics.get("cssContentSize", metrics.get("contentSize", {})).get(
                            "height", 900
                        ),
                    ),
                )
            )
            self.call(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": h, "deviceScaleFactor": 1, "mobile": False},
                sid,
            )
            self.pump(0.3)
            data = self.call("Page.captureScreenshot", {"format": "png"}, sid)["data"]
            Path(screenshot).write_bytes(base64.b64decode(data))
        self.pump(0.2)
        ids = {}
        for msg in self._events:
            if msg.get("sessionId") != sid:
                continue
            m, p = msg["method"], msg.get("params", {})
            if m == "Runtime.consoleAPICalled":
                text = " ".join(
                    str(a.get("value", a.get("description", ""))) for a in p.get("args", [])
                )
                rec.console.append((p.get("type"), text))
            elif m == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                rec.exceptions.append(
                    d.get("exception", {}).get("description") or d.get("text", "")
                )
            elif m == "Log.entryAdded":
                e = p.get("entry", {})
                rec.log_all.append(
                    (e.get("source"), e.get("level"), e.get("text"), e.get("url", ""))
                )
                if e.get("level") == "error":
                    rec.log_errors.append(
                        (e.get("source"), e.get("level"), e.get("text"), e.get("url", ""))
                    )
            elif m == "Page.javascriptDialogOpening":
                rec.dialogs.append((p.get("type"), p.get("message")))
            elif m == "Network.requestWillBeSent":
                url_ = p.get("request", {}).get("url", "")
                ids[p.get("requestId")] = url_
                rec.requests.append(url_)
            elif m == "Network.loadingFailed":
                url_ = ids.get(p.get("requestId"), p.get("requestId"))
                if p.get("blockedReason"):
                    rec.blocked.append((url_, p.get("blockedReason")))
                elif not p.get("canceled"):
                    rec.failed.append((url_, p.get("errorText")))
        self.call("Target.closeTarget", {"targetId": tid})
        return rec
