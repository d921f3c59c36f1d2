"""The live view on the metrics port: /model.json against numpy, and the page itself in headless
Chromium (Debian's `chromium` package), against a daemon fed a synthetic stream."""
import http.server
import json
import math
import os
import re
import shutil
import struct
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import zmq

from conftest import BINARY, Daemon, batch_message, blobs, free_port, wait_for

K, D = 5, 6


def chromium():
    """The headless browser, or a skip that says how to get one."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("chromium is not installed (scripts/setup.sh installs Debian's chromium package)")


def run_chromium(url, tmp_path, *extra, budget_ms=2500):
    """Loads `url` in a fresh headless profile with `budget_ms` of virtual time (timers are
    fast-forwarded while no request is pending) and returns what Chromium printed."""
    profile = tmp_path / f"profile-{time.monotonic_ns()}"
    result = subprocess.run(
        [chromium(), "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--disable-extensions",
         "--hide-scrollbars", f"--user-data-dir={profile}", "--window-size=1200,900",
         f"--virtual-time-budget={budget_ms}", *extra, url],
        capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def summary(dom):
    """The page's account of what it drew: the data- attributes of its #summary element."""
    tag = re.search(r'<div id="summary"[^>]*>', dom)
    assert tag, dom[-3000:]
    return {name: value for name, value in re.findall(r'data-([a-z-]+)="([^"]*)"', tag.group(0))}


def fetch(url, method="GET"):
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def strict_json(body):
    """Parses JSON that must hold no NaN or infinity, and checks every number is finite."""
    def refuse(token):
        raise AssertionError(f"non-finite number {token} in model.json")
    data = json.loads(body, parse_constant=refuse)

    def walk(value):
        if isinstance(value, float):
            assert math.isfinite(value)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
    walk(data)
    return data


class Feeder:
    """Publishes blobs until stopped, on its own thread and socket, like a live producer."""

    def __init__(self, endpoint, rate_batches=40):
        self.endpoint, self.period = endpoint, 1 / rate_batches
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        ctx = zmq.Context()
        pub = ctx.socket(zmq.PUB)
        pub.setsockopt(zmq.LINGER, 0)
        pub.connect(self.endpoint)
        time.sleep(0.5)  # the slow joiner
        X, _, _ = blobs(40_000, d=D, k=K, seed=5, spread=1.0, side=30.0)
        seq = 0
        while not self.stop_flag.is_set():
            start = (seq * 200) % len(X)
            seq += 1
            pub.send_multipart(batch_message(X[start:start + 200], seq=seq))
            time.sleep(self.period)
        pub.close()
        ctx.term()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        self.thread.join(5)


@pytest.fixture
def live():
    """A daemon with its metrics port on, fed continuously; yields (daemon, base URL)."""
    port = free_port()
    with Daemon("--k", str(K), "--dimension", str(D), "--set", f'metrics.address="127.0.0.1:{port}"') as d:
        with Feeder(d.input):
            base = f"http://127.0.0.1:{port}"
            # Trained for a few seconds: the history has samples to draw.
            trained = wait_for(lambda: (lambda m: m if m["has_model"] and sum(v > 0 for v in m["history"]["version"]) >= 3 else None)(
                strict_json(fetch(base + "/model.json")[2])), timeout=30, interval=0.25)
            assert trained, "the daemon did not train"
            yield d, base


def test_model_json_describes_the_model_and_its_projection(live):
    d, base = live
    status, headers, body = fetch(base + "/model.json")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert headers["Cache-Control"] == "no-store"
    m = strict_json(body)
    assert m["has_model"] and m["ready"] and m["healthy"]
    assert (m["k"], m["d"]) == (K, D)
    assert m["model_version"] > 0 and m["model_epoch"] > 0 and m["vectors_accepted"] > 0
    assert m["temperature"] > 0 and m["inertia_per_vector"] > 0 and m["mean_support_size"] >= 1
    assert m["dropped_total"] == sum(m["dropped"].values())
    assert len(m["counts"]) == len(m["shares"]) == K and abs(sum(m["shares"]) - 1) < 1e-9
    C = np.array(m["centers"])
    assert C.shape == (K, D)
    # The projection against numpy's PCA of the same centers. Signs and the basis inside the
    # plane are arbitrary, so compare what does not depend on them: the projected points'
    # inner products, and the variances.
    Cc = C - C.mean(axis=0)
    U, S, Vt = np.linalg.svd(Cc, full_matrices=False)
    P = Cc @ Vt[:2].T
    Q = np.column_stack([m["projection"]["x"], m["projection"]["y"]])
    scale = np.abs(P @ P.T).max()
    assert np.abs(P @ P.T - Q @ Q.T).max() <= 1e-6 * scale
    assert np.allclose(m["projection"]["variance"], S[:2] ** 2 / K, rtol=1e-6)
    assert math.isclose(m["projection"]["total_variance"], (S ** 2).sum() / K, rel_tol=1e-6)
    # History: aligned columns, one sample a second.
    h = m["history"]
    assert h["interval_ms"] == 1000
    assert len(h["t"]) == len(h["version"]) == len(h["temperature"]) == len(h["inertia"]) == len(h["accepted"]) >= 3
    assert h["t"] == sorted(h["t"]) and h["accepted"] == sorted(h["accepted"])
    # Events as the events topic has them, oldest first.
    names = [e["event"] for e in m["events"]]
    assert names[:2] == ["start", "seeded"], names
    assert m["events"][1]["fields"]["vectors"] > 0


def test_the_metrics_port_is_read_only_and_the_page_self_contained(live):
    d, base = live
    status, headers, page = fetch(base + "/")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    text = page.decode()
    assert "<canvas" in text and "model.json" in text
    # No external assets: nothing to load from elsewhere, and the browser is told so.
    assert "http:" not in text and "https:" not in text
    assert not re.search(r"""\b(src|href)\s*=""", text)
    assert "default-src 'none'" in headers["Content-Security-Policy"] and "connect-src 'self'" in headers["Content-Security-Policy"]
    status, headers, body = fetch(base + "/", method="HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) == len(page)
    status, headers, body = fetch(base + "/model.json", method="HEAD")
    assert status == 200 and body == b""
    before = strict_json(fetch(base + "/model.json")[2])
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        for path in ("/", "/model.json", "/metrics"):
            status, headers, _ = fetch(base + path, method=method)
            assert status == 405 and headers["Allow"] == "GET, HEAD", (method, path)
    assert d.proc.poll() is None
    after = strict_json(fetch(base + "/model.json")[2])
    assert after["model_epoch"] == before["model_epoch"] and after["k"] == before["k"]


def test_metrics_listen_on_loopback_by_default(tmp_path):
    """Without metrics.address the daemon serves the port (and the page) on 127.0.0.1 only."""
    ports = [free_port() for _ in range(3)]
    proc = subprocess.Popen(
        [str(BINARY), "run", "--input", f"tcp://127.0.0.1:{ports[0]}", "--output", f"tcp://127.0.0.1:{ports[1]}",
         "--query", f"tcp://127.0.0.1:{ports[2]}"], stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        deadline = time.time() + 20
        while time.time() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            # Either it serves the default address, or that port is taken (a demo running): the
            # line names the address it tried, which is what this checks.
            if "voronoid ready" in line or "metrics.address" in line:
                break
        log = "".join(lines)
        assert "127.0.0.1:9464" in log, log
    finally:
        proc.terminate()
        proc.wait(20)


def png_size(path):
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_the_page_draws_the_centers_and_follows_the_stream(live, tmp_path):
    d, base = live
    first = summary(run_chromium(base + "/", tmp_path, "--dump-dom"))
    assert first["status"] == "live", first
    assert int(first["centers-drawn"]) == K and int(first["k"]) == K and int(first["d"]) == D
    assert int(first["bars-drawn"]) == K
    assert int(first["heat-cells"]) == K * D
    assert int(first["series-points"]) > 0
    assert int(first["events-shown"]) >= 2
    assert int(first["polls"]) >= 1 and int(first["failures"]) == 0
    time.sleep(1.5)  # vectors keep flowing
    second = summary(run_chromium(base + "/", tmp_path, "--dump-dom"))
    assert int(second["model-version"]) > int(first["model-version"]) > 0, (first, second)
    assert int(second["centers-drawn"]) == K and second["status"] == "live"

    shot = tmp_path / "live-view.png"
    run_chromium(base + "/", tmp_path, f"--screenshot={shot}", budget_ms=4000)
    assert png_size(shot) == (1200, 900)
    # VORONOID_LIVE_VIEW_SCREENSHOT=path keeps a copy to look at.
    keep = os.environ.get("VORONOID_LIVE_VIEW_SCREENSHOT")
    if keep:
        shutil.copyfile(shot, keep)


class Replay(http.server.BaseHTTPRequestHandler):
    """Serves the daemon's page and a recorded model.json: `good` answers, then silence (the
    connection is closed unanswered, as from a daemon that died), or an unhealthy daemon."""
    page = b""
    snapshot = {}
    good = 3
    unhealthy = False
    served = 0

    def do_GET(self):
        if self.path == "/":
            return self.answer(self.page, "text/html; charset=utf-8")
        cls = type(self)
        cls.served += 1
        if cls.unhealthy:
            m = dict(cls.snapshot, healthy=False, health=["clustering: stalled: no progress for 7 s", "ingest: ok"])
            return self.answer(json.dumps(m).encode(), "application/json")
        if cls.served <= cls.good:
            return self.answer(json.dumps(cls.snapshot).encode(), "application/json")
        self.close_connection = True

    def answer(self, body, kind):
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("case", ["silent", "unhealthy"])
def test_the_page_marks_data_stale_when_the_daemon_stops(live, tmp_path, case):
    d, base = live
    handler = type("Handler", (Replay,), {
        "page": fetch(base + "/")[2], "snapshot": strict_json(fetch(base + "/model.json")[2]),
        "unhealthy": case == "unhealthy", "served": 0})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        dom = run_chromium(url, tmp_path, "--dump-dom", budget_ms=8000)
        s = summary(dom)
        assert s["status"] == "stale", s
        assert "STALE" in dom
        # The last data stays on screen, marked, rather than vanishing.
        assert int(s["centers-drawn"]) == K
        if case == "silent":
            assert int(s["failures"]) > 0 and "no answer from the daemon" in dom
        else:
            assert "stopped beating" in dom and "clustering: stalled" in dom
    finally:
        server.shutdown()
        server.server_close()
