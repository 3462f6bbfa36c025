"""Shared fixtures: an isolated Keras cache, a loopback HTTP server, helpers."""

import functools
import http.server
import os
import pathlib
import socket
import subprocess
import sys
import threading
import time

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


# The longest tests of each lane: nodeid (or its start) -> seconds, measured in a CI
# run on 2 cores. pytest-xdist's worksteal scheduler gives each worker a contiguous
# share of the collection and lets an idle one steal from the end of another's: a
# long test left near the end of a share starts last and keeps one worker busy while
# the other idles (a 5-minute tail of the slow lane, measured). They start the shares
# instead, longest first, each to the share with the least of them so far.
RELOAD = "tests/test_convert.py::test_every_family_reloads_from_keras_and_h5_with_keras_alone"
LONGEST_FIRST = {
    RELOAD + "[resnet50+resnet50v2+nasnet_mobile+convnext_tiny]": 303,
    RELOAD + "[inception_v3+inception_resnet_v2+efficientnetb0]": 260,
    "tests/test_contract.py::test_save_and_reload_in_new_process[others-1]": 211,
    RELOAD + "[mobilenet+densenet121+efficientnetv2-b0]": 171,
    RELOAD + "[vgg16+xception+mobilenet_v2]": 131,
    "tests/test_distribute.py::test_every_model_builds_under_mirrored_strategy": 129,
    "tests/test_convert.py::test_copies_reload_from_keras_and_h5_with_keras_alone": 123,
    "tests/test_contract.py::test_save_and_reload_in_new_process[others-2]": 119,
    "tests/test_examples.py::test_multi_worker_example": 90,
    "tests/test_examples.py::test_blog_experiment": 89,
    "tests/test_examples.py::test_domain_shift_adabn": 75,
    "tests/test_distribute.py::test_one_vs_two_replicas": 70,
    "tests/test_docs.py::test_fine_tuning_guide_snippets_run": 69,
    "tests/test_contract.py::test_pinned_model_contract[inception_resnet_v2]": 67,  # fast lane
    "tests/test_contract.py::test_pinned_model_contract[nasnet_mobile]": 64,
}


def order_longest_first(items, workers):
    """Reorder ``items`` in place for ``workers`` worksteal workers: the
    LONGEST_FIRST ones at the start of the shares (see there), the others after
    them in their own order."""
    seconds = {}
    for item in items:
        for prefix, measured in LONGEST_FIRST.items():
            if item.nodeid.startswith(prefix):
                seconds[item.nodeid] = measured
                break
    if workers < 2 or not seconds:
        return
    heads, totals = [[] for _ in range(workers)], [0] * workers
    for item in sorted((i for i in items if i.nodeid in seconds), key=lambda i: -seconds[i.nodeid]):
        w = totals.index(min(totals))
        heads[w].append(item)
        totals[w] += seconds[item.nodeid]
    others = [i for i in items if i.nodeid not in seconds]
    size = len(items) // workers  # worksteal's share of each worker but the last
    ordered, start = [], 0
    for w, head in enumerate(heads):
        take = max(0, size - len(head)) if w < workers - 1 else len(others)
        ordered += head + others[start : start + take]
        start += take
    items[:] = ordered + others[start:]


class LongestFirst:
    """After ``-m`` has deselected what a lane does not run: order_longest_first."""

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items):
        order_longest_first(items, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))


def pytest_configure(config):
    config.pluginmanager.register(LongestFirst(), "kab-longest-first")


def pytest_collection_modifyitems(items):
    """Members other than the smallest of each family run in the slow lane.

    A test parametrised with an architecture of tests/architectures.py whose
    ``contract`` is False (ResNet101, DenseNet169, EfficientNetB1..B7, ...) is
    marked ``slow``: the contract member of its family runs the same code in the
    fast lane (``make test``); ``make test-slow`` runs the rest. Checks that
    build no model (signatures, refused arguments) take their entry under
    another name (``function``) and so run for every member in the fast lane.
    """
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        arch = params.get("arch")
        if arch is not None and getattr(arch, "contract", True) is False:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def isolated_keras_home(tmp_path, monkeypatch):
    """Every test gets its own empty Keras cache and no mirror/offline settings."""
    home = tmp_path / "keras_home"
    home.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.delenv("KERAS_APPLICATIONS_BN_MIRROR", raising=False)
    monkeypatch.delenv("KERAS_APPLICATIONS_BN_OFFLINE", raising=False)
    return home


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - signature from the base class
        self.server.requests.append(self.path)


class LocalServer:
    """A static file server on 127.0.0.1 serving ``root``; ``requests`` logs paths."""

    def __init__(self, root):
        self.root = pathlib.Path(root)
        handler = functools.partial(_QuietHandler, directory=str(self.root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.requests = []
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self):
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/"

    @property
    def requests(self):
        return self.httpd.requests

    def url(self, relpath):
        return self.base_url + relpath.lstrip("/")

    def put(self, relpath, data):
        """Serve ``data`` (bytes) at ``relpath``; return its path on disk."""
        path = self.root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def http_server(tmp_path):
    """A loopback HTTP server serving files the test writes with ``server.put``."""
    root = tmp_path / "served"
    root.mkdir()
    with LocalServer(root) as server:
        yield server


def run_python(code, *, cwd=None, env=None, timeout=300):
    """Run ``code`` in a fresh Python process that imports this checkout.

    Returns the completed process; fails the test with its output if it fails.
    """
    full_env = python_env()
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"subprocess failed ({proc.returncode})\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr[-5000:]}"
        )
    return proc


class _FaultHandler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files`` and misbehaves as each path's fault queue says."""

    protocol_version = "HTTP/1.0"  # one request per connection; the body ends at close

    def log_message(self, format, *args):  # noqa: A002 - signature from the base class
        pass

    def _send(self, payload):
        try:
            self.wfile.write(payload)
            self.wfile.flush()
        except OSError:  # the client went away
            return
        with self.server.lock:
            self.server.sent[self.path] = self.server.sent.get(self.path, 0) + len(payload)

    def do_GET(self):  # noqa: N802 - name from the base class
        srv = self.server
        with srv.lock:
            srv.log.append(
                {
                    "path": self.path,
                    "range": self.headers.get("Range"),
                    "if_range": self.headers.get("If-Range"),
                }
            )
            queue = srv.faults.get(self.path)
            fault = queue.pop(0) if queue else srv.defaults.get(self.path, ("ok", None))
        kind, arg = fault
        data = srv.files.get(self.path)
        if kind == "status":
            self.send_error(arg)
            return
        if kind == "redirect":
            self.send_response(302)
            self.send_header("Location", arg)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if data is None:
            self.send_error(404)
            return
        if kind == "wrong":
            data = bytes(len(data))  # same length, other bytes
        start = 0
        requested = self.headers.get("Range")
        if requested and srv.range_support:
            start = int(requested.split("=", 1)[1].split("-", 1)[0])
            if start >= len(data):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        if kind == "short":  # a lying Content-Length: announce and send only ``arg`` bytes
            body = body[:arg]
        if kind == "type":  # the whole body, as content type ``arg``
            self.send_header("Content-Type", arg)
        if kind == "nolength":  # no Content-Length; ``arg`` bytes, then close
            body = body[:arg]
        else:
            self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", srv.etags[self.path])
        self.send_header("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT")
        self.end_headers()
        if kind == "truncate":  # announce the whole body, send ``arg`` bytes, hang up
            self._send(body[:arg])
        elif kind == "hold":  # send ``arg`` bytes, then stall until released (bounded)
            self._send(body[:arg])
            srv.release.wait(timeout=20)
        elif kind == "slow":  # the whole body in 16 KB pieces, ``arg`` seconds apart
            for i in range(0, len(body), 1 << 14):
                self._send(body[i : i + (1 << 14)])
                time.sleep(arg)
        else:
            self._send(body)


class FaultServer:
    """A loopback HTTP server that injects faults, for the downloader's tests.

    ``add(path, data, faults=[...], default=...)`` serves ``data`` at ``path``; each
    request pops the next fault (``("ok", None)`` once the queue is empty, or
    ``default``). Faults: ``("truncate", n)``, ``("hold", n)``, ``("slow", delay)``,
    ``("status", code)``, ``("redirect", location)``, ``("wrong", None)``,
    ``("short", n)`` (Content-Length ``n`` and ``n`` bytes: a complete-looking short
    body), ``("nolength", n)`` (``n`` bytes, no Content-Length, then close),
    ``("type", content_type)``.
    ``log`` lists every request (path, Range, If-Range); ``sent`` counts body bytes
    sent per path; ``range_support = False`` makes it ignore Range headers.
    """

    def __init__(self):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FaultHandler)
        self.httpd.daemon_threads = True
        srv = self.httpd
        srv.lock = threading.Lock()
        srv.files, srv.faults, srv.defaults, srv.etags = {}, {}, {}, {}
        srv.log, srv.sent = [], {}
        srv.range_support = True
        srv.release = threading.Event()
        self.thread = threading.Thread(
            target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __getattr__(self, name):
        if name in {"log", "sent", "files", "faults", "release"}:
            return getattr(self.httpd, name)
        raise AttributeError(name)

    @property
    def range_support(self):
        return self.httpd.range_support

    @range_support.setter
    def range_support(self, value):
        self.httpd.range_support = value

    def url(self, path):
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/{path.lstrip('/')}"

    @property
    def base_url(self):
        return self.url("")

    def add(self, path, data, faults=(), default=("ok", None)):
        path = "/" + path.lstrip("/")
        with self.httpd.lock:
            self.httpd.files[path] = data
            self.httpd.faults[path] = list(faults)
            self.httpd.defaults[path] = default
            self.httpd.etags[path] = f'"{len(data)}-{hash(data) & 0xFFFFFFFF:x}"'
        return self.url(path)

    def requests_for(self, path):
        path = "/" + path.lstrip("/")
        return [r for r in self.httpd.log if r["path"] == path]


@pytest.fixture
def fault_server():
    """A loopback server with per-request fault injection (see :class:`FaultServer`)."""
    server = FaultServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.httpd.release.set()
        server.httpd.shutdown()
        server.httpd.server_close()


def python_env():
    """``os.environ`` plus a PYTHONPATH that imports this checkout first."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    )
    return env


def free_ports(n=1):
    """``n`` distinct free TCP ports on 127.0.0.1 (all bound at once, then released)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def run_together(commands, tmp_path, *, timeout, what="process"):
    """Start one process per ``(argv, extra_env)`` in ``commands``, all at once, each
    importing this checkout; kill them all as soon as one fails or ``timeout`` seconds
    pass (a collective that never completes fails the test instead of hanging the run).

    Returns each one's output; fails the test with the end of each output otherwise.
    """
    procs, logs = [], []
    try:
        for index, (argv, extra) in enumerate(commands):
            env = python_env()
            env.update(extra)
            log = open(tmp_path / f"{what}{index}.log", "w+")
            logs.append(log)
            procs.append(
                subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
            )
        deadline = time.monotonic() + timeout
        failure = None
        while failure is None:
            if any(p.poll() not in (None, 0) for p in procs):
                failure = f"a {what} failed"
            elif all(p.poll() == 0 for p in procs):
                break
            elif time.monotonic() > deadline:
                failure = f"timed out after {timeout} s (a collective that never completed?)"
            else:
                time.sleep(0.2)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        outputs = []
        for log in logs:
            log.seek(0)
            outputs.append(log.read())
            log.close()
    if failure:
        pytest.fail(
            failure + "".join(f"\n--- {what} {i}\n{out[-5000:]}" for i, out in enumerate(outputs))
        )
    print("".join(outputs))
    return outputs


def synthetic_class_index():
    """A class index in the official JSON shape (``{"0": ["n01440764", "tench"], ...}``).

    The tests serve this instead of the real ``imagenet_class_index.json``, which a
    clone of the repository does not have: 1000 entries, WordNet-style ids and
    names made from the index, so a decoded label says which index it came from.
    """
    import json

    index = {str(i): [f"n{i + 1:08d}", f"class_{i:03d}"] for i in range(1000)}
    return json.dumps(index, sort_keys=False).encode("utf-8")


def model_state(model):
    """Everything a tool could change about ``model``: for every layer (nested
    ones included) its class, config and ``trainable`` flag, and every weight's
    path, ``trainable`` flag and value. A refused call must leave this equal."""
    import numpy as np

    state = []
    for layer in model._flatten_layers(include_self=True, recursive=True):
        config = layer.get_config() if not hasattr(layer, "layers") else None
        state.append((layer.name, type(layer), config, layer.trainable))
        for weight in layer.weights:
            state.append((weight.path, weight.trainable, np.array(weight.numpy()).tobytes()))
    return state


def hdf5_bytes(size=100_000, seed=0):
    """The bytes of a small, valid HDF5 file (one dataset of ``size`` pseudo-random
    bytes, different for each ``seed``): what a weights file without a pinned hash
    must be before the cache trusts it."""
    import hashlib
    import io

    import h5py
    import numpy as np

    block = hashlib.sha256(str(seed).encode()).digest()
    data = np.frombuffer((block * (size // 32 + 1))[:size], dtype=np.uint8)
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.create_dataset("weights", data=data)
    return buffer.getvalue()
