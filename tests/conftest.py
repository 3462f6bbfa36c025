"""Shared fixtures: an isolated Keras cache, a loopback HTTP server, helpers."""

import functools
import http.server
import os
import pathlib
import subprocess
import sys
import threading

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


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
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT)] + [p for p in full_env.get("PYTHONPATH", "").split(os.pathsep) if p]
    )
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
