"""A small W3C WebDriver client over chromedriver's HTTP API, standard library only.

Enough for the browser test: navigate, find elements by CSS, click, type, run a script, take
screenshots. Every wait polls against a deadline; nothing sleeps a fixed time to let things happen.
"""

import base64
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request

ELEMENT_KEY = "element-6066-11e4-a52e-4f735466cecf"

# Flags for a quiet, self-contained headless Chromium (no network of its own, fresh profile).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


class WebDriverError(Exception):
    """An error answered by chromedriver (`error` is the W3C error code)."""

    def __init__(self, error, message):
        super().__init__(f"{error}: {message}")
        self.error = error


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(description, probe, timeout=30.0, interval=0.2):
    """Calls `probe` until it returns something truthy; raises AssertionError at the deadline.

    Elements replaced by the page's one-second refresh go stale; such errors count as "not yet".
    """
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            result = probe()
            if result:
                return result
        except WebDriverError as err:
            if err.error not in ("stale element reference", "no such element"):
                raise
            last_error = err
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error})" if last_error else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {description}{detail}")
        time.sleep(interval)


class Browser:
    """A chromedriver process and one session of headless Chromium."""

    def __init__(self, chromedriver, chromium, profile_dir, log_path, window=(1280, 1000)):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._log = open(log_path, "ab")
        self.process = subprocess.Popen(
            [chromedriver, f"--port={self.port}", f"--log-path={log_path}"],
            stdout=self._log,
            stderr=self._log,
        )
        self.session = None
        try:
            wait_until("chromedriver to be ready", self._ready, timeout=30)
            args = CHROMIUM_FLAGS + [f"--user-data-dir={profile_dir}", f"--window-size={window[0]},{window[1]}"]
            answer = self._call(
                "POST",
                "/session",
                {
                    "capabilities": {
                        "alwaysMatch": {
                            "browserName": "chrome",
                            "goog:chromeOptions": {"binary": chromium, "args": args},
                            "timeouts": {"pageLoad": 30000, "script": 10000, "implicit": 0},
                        }
                    }
                },
                session=False,
            )
            self.session = answer["sessionId"]
        except Exception:
            self.quit()
            raise

    def _ready(self):
        try:
            with urllib.request.urlopen(self.base + "/status", timeout=2) as response:
                return json.load(response)["value"].get("ready")
        except (OSError, ValueError, KeyError):
            return False

    def _call(self, method, path, body=None, session=True):
        url = self.base + (f"/session/{self.session}" if session else "") + path
        data = json.dumps(body if body is not None else {}).encode() if method == "POST" else None
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Content-Type", "application/json; charset=utf-8")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.load(response).get("value")
        except urllib.error.HTTPError as err:
            try:
                value = json.load(err).get("value", {})
            except ValueError:
                value = {}
            raise WebDriverError(value.get("error", f"HTTP {err.code}"), value.get("message", "")) from None

    # Navigation and scripts.
    def get(self, url):
        self._call("POST", "/url", {"url": url})

    def url(self):
        return self._call("GET", "/url")

    def execute(self, script, *args):
        return self._call("POST", "/execute/sync", {"script": script, "args": list(args)})

    # Elements: ids as chromedriver hands them out.
    def find_all(self, css):
        found = self._call("POST", "/elements", {"using": "css selector", "value": css})
        return [element[ELEMENT_KEY] for element in found]

    def find(self, css):
        found = self.find_all(css)
        return found[0] if found else None

    def wait_for(self, css, description=None, timeout=30.0):
        return wait_until(description or css, lambda: self.find(css), timeout=timeout)

    def click(self, element):
        self._call("POST", f"/element/{element}/click")

    def clear(self, element):
        self._call("POST", f"/element/{element}/clear")

    def type(self, element, text):
        self._call("POST", f"/element/{element}/value", {"text": text})

    def text(self, element):
        return self._call("GET", f"/element/{element}/text")

    def attribute(self, element, name):
        return self._call("GET", f"/element/{element}/attribute/{name}")

    def scroll_into_view(self, element):
        self.execute(
            "arguments[0].scrollIntoView({block: 'center'});",
            {ELEMENT_KEY: element},
        )

    # Screenshots.
    def screenshot(self, path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as out:
            out.write(base64.b64decode(self._call("GET", "/screenshot")))

    def quit(self):
        if self.session:
            try:
                self._call("DELETE", "")
            except (WebDriverError, OSError):
                pass
            self.session = None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
