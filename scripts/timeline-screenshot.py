#!/usr/bin/python3
"""Renders a `--perfetto` trace to a PNG, offline, for the documentation.

Perfetto's UI is a web application fetched from ui.perfetto.dev, and Debian's Chromium no longer ships
chrome://tracing, so neither can be used on a machine without network access. The DevTools front end bundled in
Chromium reads the same Chrome JSON trace-event format in its Performance panel; this script opens the trace there
in headless Chromium, expands every process and thread track, and takes a screenshot.

Usage: scripts/timeline-screenshot.py TRACE.json OUT.png [--tracks N] [--focus-longest NAME [--margin M]]
                                     [--width W] [--height H]

It drives Chromium through the DevTools protocol with python3-websocket (Debian's package). The panel's layout is
DevTools's, not a stable interface: the script waits for each state it needs and fails with one line when one never
comes, rather than writing a wrong picture.
"""
import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

try:
    import websocket
except ImportError:
    sys.exit("timeline-screenshot: needs python3-websocket (apt-get install python3-websocket)")

STATE_TIMEOUT_S = 60
POLL_S = 0.25
CLICK_ATTEMPTS = 3
CLICK_SETTLE_S = 3
# DevTools's flame chart: the first track header's row, the rows' height when collapsed, the expander's x.
FIRST_TRACK_Y = 129
COLLAPSED_ROW_PX = 21
EXPANDER_X = 9
NESTED_EXPANDER_X = 19
# The overview strip above the tracks, where a drag selects the window shown.
OVERVIEW_Y = 85


class Page:
    def __init__(self, ws_url):
        self.ws = websocket.create_connection(ws_url, timeout=STATE_TIMEOUT_S)
        self.next_id = 0

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error'].get('message')}")
                return msg.get("result", {})

    def evaluate(self, expression):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return r.get("result", {}).get("value")

    def wait_for(self, what, expression):
        deadline = time.monotonic() + STATE_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.evaluate(expression):
                return
            time.sleep(POLL_S)
        sys.exit(f"timeline-screenshot: DevTools never reached '{what}' within {STATE_TIMEOUT_S} s")

    def drag(self, x0, x1, y):
        self.call("Input.dispatchMouseEvent", type="mouseMoved", x=x0, y=y)
        self.call("Input.dispatchMouseEvent", type="mousePressed", x=x0, y=y, button="left", clickCount=1)
        steps = 10
        for i in range(1, steps + 1):
            self.call("Input.dispatchMouseEvent", type="mouseMoved", x=x0 + (x1 - x0) * i / steps, y=y, button="left",
                      buttons=1)
        self.call("Input.dispatchMouseEvent", type="mouseReleased", x=x1, y=y, button="left", clickCount=1)

    def pixels(self, x, y, w, h):
        clip = {"x": x, "y": y, "width": w, "height": h, "scale": 1}
        return self.call("Page.captureScreenshot", format="png", clip=clip)["data"]

    def click_until_changed(self, what, x, y, watch):
        """Clicks until the watched region (x, y, w, h) is drawn differently: DevTools may take a click for focus."""
        before = self.pixels(*watch)
        for _ in range(CLICK_ATTEMPTS):
            self.click(x, y)
            deadline = time.monotonic() + CLICK_SETTLE_S
            while time.monotonic() < deadline:
                if self.pixels(*watch) != before:
                    return
                time.sleep(POLL_S)
        sys.exit(f"timeline-screenshot: clicking {what} changed nothing")

    def settle(self):
        """Waits until two screenshots a poll apart are the same: DevTools draws in animation frames."""
        last = None
        deadline = time.monotonic() + STATE_TIMEOUT_S
        while time.monotonic() < deadline:
            shot = self.call("Page.captureScreenshot", format="png")["data"]
            if shot == last:
                return
            last = shot
            time.sleep(POLL_S)
        sys.exit("timeline-screenshot: DevTools never stopped redrawing")

    def click(self, x, y):
        self.call("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)


# Deep queries: DevTools keeps its widgets in shadow roots.
DEEP_FIND = """(pred) => { const walk = (root) => { for (const e of root.querySelectorAll('*')) {
  if (pred(e)) return e; if (e.shadowRoot) { const r = walk(e.shadowRoot); if (r) return r; } } return null; };
  return walk(document); }"""
FILE_INPUT = f"({DEEP_FIND})(e => e.tagName === 'INPUT' && e.type === 'file')"
CLOSE_ALL = """(() => { let n = 0; const walk = (root) => { for (const e of root.querySelectorAll('*')) {
  if (/^close$/i.test(e.getAttribute('aria-label') || '')) { e.click(); n++; }
  if (e.shadowRoot) walk(e.shadowRoot); } }; walk(document); return n; })()"""
TRACE_SHOWN = f"!!({DEEP_FIND})(e => e.getAttribute('aria-label') === 'Summary' || e.textContent === 'Summary')"


def devtools_port(profile):
    path = os.path.join(profile, "DevToolsActivePort")
    deadline = time.monotonic() + STATE_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            with open(path) as f:
                return int(f.readline())
        except (OSError, ValueError):
            time.sleep(POLL_S)
    sys.exit("timeline-screenshot: Chromium did not open its DevTools port")


def main():
    ap = argparse.ArgumentParser(description="Render a holdscope --perfetto trace to a PNG (offline).")
    ap.add_argument("trace")
    ap.add_argument("out")
    ap.add_argument("--tracks", type=int, default=0, help="thread tracks to expand under the first process")
    ap.add_argument("--focus-longest", metavar="NAME",
                    help="zoom to the longest slice of this name (e.g. 'read hold'), with a margin either side")
    ap.add_argument("--margin", type=float, default=0.3,
                    help="with --focus-longest: the margin either side, in multiples of the slice's duration")
    ap.add_argument("--width", type=int, default=1400)
    ap.add_argument("--height", type=int, default=800)
    args = ap.parse_args()
    trace = os.path.abspath(args.trace)
    try:
        with open(trace) as f:
            events = json.load(f)["traceEvents"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        sys.exit(f"timeline-screenshot: {args.trace} is not a Chrome JSON trace ({e})")
    focus = None
    if args.focus_longest:
        slices = [e for e in events if e.get("ph") == "X" and e.get("name") == args.focus_longest]
        if not slices:
            sys.exit(f"timeline-screenshot: no slice named '{args.focus_longest}' in {args.trace}")
        longest = max(slices, key=lambda e: e["dur"])
        timed = [e for e in events if "ts" in e]
        t0 = min(e["ts"] for e in timed)
        t1 = max(e["ts"] + e.get("dur", 0) for e in timed)
        margin = longest["dur"] * args.margin
        focus = ((longest["ts"] - margin - t0) / (t1 - t0), (longest["ts"] + longest["dur"] + margin - t0) / (t1 - t0))
    browser = shutil.which("chromium")
    if not browser:
        sys.exit("timeline-screenshot: needs Debian's chromium")

    profile = tempfile.mkdtemp(prefix="holdscope-shot-")
    proc = subprocess.Popen(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
         "--remote-debugging-port=0", "--remote-allow-origins=*", f"--window-size={args.width},{args.height}",
         "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port = devtools_port(profile)
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json"))
        page = Page(next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"])
        page.call("Page.navigate", url=f"http://127.0.0.1:{port}/devtools/trace_app.html?panel=timeline")
        page.wait_for("the Performance panel", f"!!{FILE_INPUT}")
        node = page.call("Runtime.evaluate", expression=FILE_INPUT)["result"]["objectId"]
        page.call("DOM.setFileInputFiles", files=[trace], objectId=node)
        page.wait_for("the loaded trace", TRACE_SHOWN)
        page.evaluate(CLOSE_ALL)
        page.click_until_changed("the sidebar toggle", 16, 39, (0, 60, 240, 60))
        if focus:
            page.drag(max(focus[0], 0) * args.width, min(focus[1], 1) * args.width, OVERVIEW_Y)
        page.click_until_changed("the process track", EXPANDER_X, FIRST_TRACK_Y, (0, FIRST_TRACK_Y - 8, 40, 16))
        # Bottom up, so that an expanded track never moves the expanders still to click.
        for i in reversed(range(args.tracks)):
            y = FIRST_TRACK_Y + (i + 1) * COLLAPSED_ROW_PX - 4
            page.click_until_changed(f"thread track {i + 1}", NESTED_EXPANDER_X, y, (0, y - 8, 40, 16))
        page.call("Input.dispatchMouseEvent", type="mouseMoved", x=args.width - 1, y=args.height - 1)
        page.evaluate(CLOSE_ALL)  # a hint DevTools shows after the first clicks
        page.settle()
        bottom = page.evaluate(f"({DEEP_FIND})(e => e.textContent === 'Summary' && e.getAttribute('role') === 'tab')"
                               ".getBoundingClientRect().top")
        clip = {"x": 0, "y": 0, "width": args.width, "height": bottom or args.height, "scale": 1}
        shot = page.call("Page.captureScreenshot", format="png", clip=clip)["data"]
        with open(args.out, "wb") as f:
            f.write(base64.b64decode(shot))
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
