"""The weights downloader: integrity, atomicity, resume, locking, retries,
mirrors/offline and URL/file-name safety, against a fault-injecting loopback server.

Every test asserts what the cache directory holds afterwards.
"""

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import time

import pytest

from keras_applications_bn import weights
from keras_applications_bn.weights import WeightsError

from conftest import REPO_ROOT, hdf5_bytes, python_env

SIZE = 300_000


# Subprocesses import the real keras_applications_bn/weights package of this checkout,
# but skip keras_applications_bn's __init__ (it imports Keras and TensorFlow, ~5 s per
# process; the weights package itself needs only the standard library).
IMPORT_WEIGHTS = (
    "import sys, types\n"
    "pkg = types.ModuleType('keras_applications_bn')\n"
    f"pkg.__path__ = [{str(REPO_ROOT / 'keras_applications_bn')!r}]\n"
    "sys.modules['keras_applications_bn'] = pkg\n"
    "from keras_applications_bn import weights\n"
)


def payload(size=SIZE, seed=0):
    return hashlib.sha256(str(seed).encode()).digest() * (size // 32) + b"x" * (size % 32)


def md5(data):
    return hashlib.md5(data).hexdigest()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def cache_dir():
    return weights.default_cache_dir()


def visible_files():
    """The cache as Keras sees it: everything but our hidden bookkeeping directory."""
    return sorted(f for f in os.listdir(cache_dir()) if f != weights.STATE_DIR)


def partials():
    files = os.path.join(cache_dir(), weights.STATE_DIR, "files")
    if not os.path.isdir(files):
        return []
    return sorted(f for f in os.listdir(files) if not f.endswith(".lock"))


def manifest():
    return weights.cache.recorded(cache_dir())


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    monkeypatch.setattr(weights.http, "_BACKOFF_BASE", 0.05)


# --------------------------------------------------------------------------- integrity


@pytest.mark.parametrize("digest", [md5, sha256], ids=["md5", "sha256"])
def test_download_is_verified_recorded_and_complete(fault_server, digest):
    data = payload()
    url = fault_server.add("models/w.h5", data)
    path = weights.fetch_file(url, file_hash=digest(data).upper(), progress=False)
    assert path == os.path.join(cache_dir(), "w.h5")
    assert open(path, "rb").read() == data
    assert visible_files() == ["w.h5"] and partials() == []
    record = manifest()["w.h5"]
    assert record["digest"] == digest(data) and record["trust"] == "pinned"
    assert record["size"] == len(data)


def test_warm_load_trusts_size_and_mtime_and_rehashes_after_a_change(fault_server, monkeypatch):
    data = payload()
    url = fault_server.add("w.h5", data)
    path = weights.fetch_file(url, md5(data))
    hashed = []
    real = weights.integrity.hash_file
    monkeypatch.setattr(weights.integrity, "hash_file", lambda p, a: hashed.append(p) or real(p, a))
    for _ in range(3):
        assert weights.fetch_file(url, md5(data)) == path
    assert hashed == [] and len(fault_server.log) == 1
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched: hash once more
    weights.fetch_file(url, md5(data))
    weights.fetch_file(url, md5(data))
    assert hashed == [path] and len(fault_server.log) == 1


def test_corrupt_cached_file_is_replaced(fault_server):
    data = payload()
    url = fault_server.add("w.h5", data)
    path = weights.fetch_file(url, md5(data))
    with open(path, "r+b") as f:
        f.write(b"garbage")
    assert weights.fetch_file(url, md5(data)) == path
    assert open(path, "rb").read() == data and len(fault_server.log) == 2
    assert visible_files() == ["w.h5"] and partials() == []


def test_a_keras_cached_file_is_reused_without_download(fault_server):
    data = payload()
    url = fault_server.add("w.h5", data)
    with open(os.path.join(cache_dir(), "w.h5"), "wb") as f:
        f.write(data)
    assert open(weights.fetch_file(url, md5(data)), "rb").read() == data
    assert fault_server.log == [] and manifest()["w.h5"]["digest"] == md5(data)


def test_wrong_bytes_are_never_cached_and_not_retried(fault_server):
    data = payload()
    url = fault_server.add("w.h5", data, faults=[("wrong", None)])
    with pytest.raises(WeightsError) as info:
        weights.fetch_file(url, md5(data), retries=3)
    message = str(info.value)
    assert url in message and md5(data) in message and md5(bytes(len(data))) in message
    assert "discarded" in message
    assert len(fault_server.log) == 1
    assert visible_files() == [] and partials() == [] and "w.h5" not in manifest()


def test_trust_on_first_use_catches_later_corruption_and_changes(fault_server):
    first = hdf5_bytes(seed=1)  # a file without a pinned hash must be HDF5 to be trusted
    url = fault_server.add("mobilenet.h5", first)
    path = weights.fetch_file(url)  # no pinned hash
    record = manifest()["mobilenet.h5"]
    assert record == {
        **record,
        "algorithm": "sha256",
        "digest": sha256(first),
        "trust": "first-use",
    }
    with open(path, "r+b") as f:  # later corruption in the cache
        f.write(b"bitrot")
    fault_server.add("mobilenet.h5", hdf5_bytes(seed=2))  # and upstream now serves other bytes
    with pytest.raises(WeightsError, match="forget mobilenet.h5") as info:
        weights.fetch_file(url)
    assert sha256(first) in str(info.value)
    assert visible_files() == [] and partials() == []  # corrupt file removed, nothing new
    assert manifest()["mobilenet.h5"]["digest"] == sha256(first)
    assert weights.forget("mobilenet.h5") is True
    assert open(weights.fetch_file(url), "rb").read() == hdf5_bytes(seed=2)
    assert manifest()["mobilenet.h5"]["digest"] == sha256(hdf5_bytes(seed=2))


def test_verify_reports_pinned_first_use_and_corrupt(fault_server, monkeypatch):
    a, b = payload(seed=3), hdf5_bytes(seed=4)
    weights.fetch_file(fault_server.add("a.h5", a), md5(a))
    path_b = weights.fetch_file(fault_server.add("b.h5", b))
    registry_file = weights.REGISTRY["imagenet_class_index"]
    with open(os.path.join(cache_dir(), registry_file.fname), "wb") as f:
        f.write(b"{}")  # not the pinned bytes
    checks = {c.fname: c for c in weights.verify()}
    a_check = checks["a.h5"]
    assert (a_check.status, a_check.trust, a_check.algorithm) == ("ok", "pinned", "md5")
    assert (checks["b.h5"].status, checks["b.h5"].trust) == ("ok", "first-use")
    bad = checks[registry_file.fname]
    assert (bad.status, bad.trust, bad.name) == ("corrupt", "pinned", "imagenet_class_index")
    assert bad.expected == registry_file.file_hash and bad.actual == md5(b"{}")
    assert checks[weights.REGISTRY["resnet50"].fname].status == "missing"
    assert os.path.exists(bad.path)  # verify reports; the next fetch replaces
    with open(path_b, "r+b") as f:
        f.write(b"rot")
    # Same size and mtime as recorded: only a re-hash sees the damage.
    os.utime(path_b, ns=(0, manifest()["b.h5"]["mtime_ns"]))
    assert {c.fname: c.status for c in weights.verify()}["b.h5"] == "corrupt"


# --------------------------------------------------------------------------- faults


def test_truncated_body_is_retried_then_reported_and_never_cached(fault_server):
    data = payload()
    url = fault_server.add("w.h5", data, default=("truncate", 1000))
    with pytest.raises(WeightsError, match="after 3 attempt") as info:
        weights.fetch_file(url, md5(data), retries=2)
    assert "closed after" in str(info.value)
    assert len(fault_server.log) == 3
    assert visible_files() == []
    assert partials() == ["w.h5.part", "w.h5.partinfo"]  # kept, hidden, for the next try


def test_dropped_connection_resumes_with_range(fault_server):
    data = payload()
    url = fault_server.add("w.h5", data, faults=[("truncate", 100_000)])
    path = weights.fetch_file(url, md5(data))
    assert open(path, "rb").read() == data
    first, second = fault_server.log
    assert first["range"] is None and second["range"] == "bytes=100000-"
    assert second["if_range"] == fault_server.httpd.etags["/w.h5"]
    assert fault_server.sent["/w.h5"] == len(data)  # nothing downloaded twice
    assert visible_files() == ["w.h5"] and partials() == []


def test_server_without_range_support_restarts_from_scratch(fault_server):
    fault_server.range_support = False
    data = payload()
    url = fault_server.add("w.h5", data, faults=[("truncate", 100_000)])
    path = weights.fetch_file(url, md5(data))
    assert open(path, "rb").read() == data
    assert [r["range"] for r in fault_server.log] == [None, "bytes=100000-"]
    assert fault_server.sent["/w.h5"] == 100_000 + len(data)
    assert visible_files() == ["w.h5"] and partials() == []


def test_stale_partial_longer_than_the_file_starts_over(fault_server):
    data = payload()
    url = fault_server.add("w.h5", data)
    files = os.path.join(cache_dir(), weights.STATE_DIR, "files")
    os.makedirs(files)
    with open(os.path.join(files, "w.h5.part"), "wb") as f:
        f.write(b"\0" * (len(data) + 10))
    with open(os.path.join(files, "w.h5.partinfo"), "w") as f:
        json.dump({"url": url, "expected": md5(data)}, f)
    assert open(weights.fetch_file(url, md5(data)), "rb").read() == data
    assert [r["range"] for r in fault_server.log] == [f"bytes={len(data) + 10}-", None]
    assert visible_files() == ["w.h5"] and partials() == []


def test_server_error_then_success_is_retried(fault_server):
    data = payload()
    url = fault_server.add("w.h5", data, faults=[("status", 500), ("status", 503)])
    assert open(weights.fetch_file(url, md5(data)), "rb").read() == data
    assert len(fault_server.log) == 3 and visible_files() == ["w.h5"] and partials() == []


def test_not_found_is_not_retried(fault_server):
    url = fault_server.url("missing.h5")
    with pytest.raises(WeightsError, match="HTTP 404") as info:
        weights.fetch_file(url, "0" * 32, retries=3)
    assert url in str(info.value)
    assert len(fault_server.log) == 1 and visible_files() == [] and partials() == []


def test_slow_server_hits_the_timeout(fault_server):
    data = payload()
    url = fault_server.add("w.h5", data, default=("hold", 1000))
    start = time.monotonic()
    with pytest.raises(WeightsError, match="timed out"):
        weights.fetch_file(url, md5(data), timeout=0.3, retries=1)
    assert time.monotonic() - start < 5
    assert len(fault_server.log) == 2
    assert fault_server.log[1]["range"] == "bytes=1000-"  # the retry resumed
    assert visible_files() == []


def test_timeout_and_retries_come_from_the_environment(fault_server, monkeypatch):
    data = payload()
    url = fault_server.add("w.h5", data, default=("hold", 10))
    monkeypatch.setenv(weights.TIMEOUT_ENV, "0.2")
    monkeypatch.setenv(weights.RETRIES_ENV, "0")
    with pytest.raises(WeightsError, match="after 1 attempt"):
        weights.fetch_file(url, md5(data))
    assert len(fault_server.log) == 1 and visible_files() == []


def test_ctrl_c_mid_file_leaves_no_file_and_the_next_run_resumes(fault_server, monkeypatch):
    data = payload()
    url = fault_server.add("w.h5", data, faults=[("slow", 0)])

    class Interrupted(weights.progress.Progress):
        def update(self, n):
            super().update(n)
            if self.done >= 50_000:
                raise KeyboardInterrupt

    original = weights.progress.Progress
    monkeypatch.setattr(weights.progress, "Progress", Interrupted)
    with pytest.raises(KeyboardInterrupt):
        weights.fetch_file(url, md5(data))
    assert visible_files() == [] and "w.h5.part" in partials()
    done = os.path.getsize(os.path.join(cache_dir(), weights.STATE_DIR, "files", "w.h5.part"))
    assert 50_000 <= done < len(data)
    monkeypatch.setattr(weights.progress, "Progress", original)
    assert open(weights.fetch_file(url, md5(data)), "rb").read() == data
    assert fault_server.log[-1]["range"] == f"bytes={done}-"
    assert visible_files() == ["w.h5"] and partials() == []


@pytest.mark.slow
def test_killed_process_mid_file_then_a_new_run_resumes(fault_server):
    data = payload(400_000)
    url = fault_server.add("w.h5", data, faults=[("hold", 150_000)])
    code = IMPORT_WEIGHTS + (f"weights.fetch_file({url!r}, {md5(data)!r}, progress=False)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], env=python_env(), stderr=subprocess.PIPE)
    part = os.path.join(cache_dir(), weights.STATE_DIR, "files", "w.h5.part")
    deadline = time.monotonic() + 60
    while not (os.path.exists(part) and os.path.getsize(part) >= 150_000):
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        assert time.monotonic() < deadline, "the download never started"
        time.sleep(0.05)
    proc.kill()
    proc.wait(timeout=30)
    proc.stderr.close()
    assert visible_files() == [] and os.path.getsize(part) == 150_000
    # A new run takes the (released) lock and resumes where the killed one stopped.
    path = weights.fetch_file(url, md5(data), timeout=5)
    assert open(path, "rb").read() == data
    assert fault_server.log[-1]["range"] == "bytes=150000-"
    assert visible_files() == ["w.h5"] and partials() == []


@pytest.mark.slow
def test_four_processes_share_one_download(fault_server, tmp_path):
    data = payload(512 * 1024)
    url = fault_server.add("w.h5", data, default=("slow", 0.03))
    go = tmp_path / "go"
    code = IMPORT_WEIGHTS + (
        "import os, sys, time\n"
        "open(sys.argv[1], 'w').close()\n"
        "deadline = time.monotonic() + 120\n"
        f"while not os.path.exists({str(go)!r}) and time.monotonic() < deadline:\n"
        "    time.sleep(0.01)\n"
        f"print(weights.fetch_file({url!r}, {md5(data)!r}, progress=True))\n"
    )
    ready = [tmp_path / f"ready{i}" for i in range(4)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(r)],
            env=python_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for r in ready
    ]
    try:
        deadline = time.monotonic() + 120
        while not all(r.exists() for r in ready):
            assert all(p.poll() is None for p in procs)
            assert time.monotonic() < deadline
            time.sleep(0.05)
        go.touch()
        outputs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert [p.returncode for p in procs] == [0] * 4, [err[-2000:] for _, err in outputs]
    target = os.path.join(cache_dir(), "w.h5")
    assert [out.strip() for out, _ in outputs] == [target] * 4
    assert len(fault_server.requests_for("w.h5")) == 1
    assert sum("Waiting for another process" in err for _, err in outputs) >= 1
    assert open(target, "rb").read() == data
    assert visible_files() == ["w.h5"] and partials() == []


# --------------------------------------------------------------------------- mirrors, offline


def test_mirror_replaces_the_origin_and_hashes_are_still_enforced(fault_server, monkeypatch):
    data = payload()
    fault_server.add("some/dir/w.h5", data)
    monkeypatch.setenv(weights.MIRROR_ENV, fault_server.base_url)
    path = weights.fetch_file(weights.ORIGIN + "some/dir/w.h5", md5(data))
    assert open(path, "rb").read() == data
    assert [r["path"] for r in fault_server.log] == ["/some/dir/w.h5"]
    # A registry file from a mirror that serves other bytes is refused.
    entry = weights.REGISTRY["resnet50_notop"]
    fault_server.add(entry.path, data)
    with pytest.raises(WeightsError, match="Hash mismatch") as info:
        weights.fetch("resnet50_notop")
    assert fault_server.url(entry.path) in str(info.value) and entry.file_hash in str(info.value)
    assert visible_files() == ["w.h5"] and partials() == []


def test_offline_never_touches_the_network(fault_server, monkeypatch):
    data = payload()
    url = fault_server.add("w.h5", data)
    weights.fetch_file(url, md5(data))
    monkeypatch.setenv(weights.OFFLINE_ENV, "1")
    assert open(weights.fetch_file(url, md5(data)), "rb").read() == data
    with pytest.raises(WeightsError, match=weights.OFFLINE_ENV) as info:
        weights.fetch("resnet50")
    assert "python -m keras_applications_bn fetch" in str(info.value)
    assert len(fault_server.log) == 1 and visible_files() == ["w.h5"]


def test_plain_http_only_for_loopback_or_an_explicit_mirror(monkeypatch):
    for url in ("http://example.com/w.h5", "ftp://example.com/w.h5", "file:///etc/passwd", "w.h5"):
        with pytest.raises(ValueError, match="url"):
            weights.fetch_file(url)
    # An explicit http mirror is accepted (offline here, so it is never contacted).
    monkeypatch.setenv(weights.MIRROR_ENV, "http://mirror.example.com/keras")
    monkeypatch.setenv(weights.OFFLINE_ENV, "1")
    with pytest.raises(WeightsError, match="not in the cache"):
        weights.fetch("resnet50")
    monkeypatch.setenv(weights.MIRROR_ENV, "ftp://mirror.example.com/")
    with pytest.raises(ValueError, match=weights.MIRROR_ENV):
        weights.fetch("resnet50")
    assert visible_files() == []


def test_redirect_to_plain_http_elsewhere_is_refused(fault_server):
    fault_server.add("w.h5", b"", faults=[("redirect", "http://example.com/w.h5")])
    with pytest.raises(WeightsError, match="Refusing redirect"):
        weights.fetch_file(fault_server.url("w.h5"), retries=0)
    assert visible_files() == [] and partials() == []


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "fname", ["../evil.h5", "a/b.h5", "..", ".", "", "a\\b", "x\0y", weights.STATE_DIR]
)
def test_file_names_cannot_escape_the_cache(fault_server, fname):
    with pytest.raises(ValueError, match="fname"):
        weights.fetch_file(fault_server.url("w.h5"), fname=fname)
    assert fault_server.log == [] and visible_files() == []


def test_names_from_urls_stay_in_the_cache(fault_server):
    data = hdf5_bytes(1000)
    fault_server.add("a/..%2F..%2Fevil.h5", data)
    path = weights.fetch_file(fault_server.url("a/..%2F..%2Fevil.h5"))
    assert os.path.dirname(path) == cache_dir() and visible_files() == ["..%2F..%2Fevil.h5"]
    for url in (fault_server.url("a/"), fault_server.url("a/..")):
        with pytest.raises(ValueError, match="fname"):
            weights.fetch_file(url)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"file_hash": "xyz"}, ValueError, "file_hash"),
        ({"file_hash": 123}, TypeError, "file_hash"),
        ({"timeout": 0}, ValueError, "timeout"),
        ({"timeout": "5"}, TypeError, "timeout"),
        ({"retries": -1}, ValueError, "retries"),
        ({"retries": 1.5}, TypeError, "retries"),
        ({"progress": "yes"}, TypeError, "progress"),
        ({"cache_dir": 3}, TypeError, "cache_dir"),
        ({"fname": 3}, TypeError, "fname"),
    ],
)
def test_bad_arguments_are_named(fault_server, kwargs, error, match):
    with pytest.raises(error, match=match):
        weights.fetch_file(fault_server.url("w.h5"), **kwargs)
    assert fault_server.log == [] and visible_files() == []


def test_bad_environment_values_are_named(monkeypatch, fault_server):
    monkeypatch.setenv(weights.TIMEOUT_ENV, "soon")
    with pytest.raises(ValueError, match=weights.TIMEOUT_ENV):
        weights.fetch_file(fault_server.url("w.h5"))
    with pytest.raises(TypeError, match="url"):
        weights.fetch_file(None)
    assert fault_server.log == []


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), 1e300, 86_401, -1.0])
def test_a_timeout_that_is_not_a_finite_number_of_seconds_is_named(
    fault_server, monkeypatch, value
):
    monkeypatch.setitem(
        weights.REGISTRY,
        "testnet",
        weights.WeightFile("testnet", "test/w.h5", None, "TestNet", True),
    )
    monkeypatch.setenv(weights.MIRROR_ENV, fault_server.base_url)
    for call in (
        lambda: weights.fetch_file(fault_server.url("w.h5"), timeout=value),
        lambda: weights.fetch("testnet", timeout=value),
    ):
        with pytest.raises(ValueError, match=r"`timeout` must be a finite number > 0 and <= 86400"):
            call()
    monkeypatch.setenv(weights.TIMEOUT_ENV, repr(value))  # 'nan', 'inf', '1e+300', ...
    with pytest.raises(ValueError, match=rf"\${weights.TIMEOUT_ENV} must be a finite number > 0"):
        weights.fetch("testnet")
    assert fault_server.log == [] and visible_files() == []


def test_numpy_scalars_are_numbers(fault_server):
    np = pytest.importorskip("numpy")
    data = payload()
    url = fault_server.add("w.h5", data)
    for timeout, retries in [
        (np.float32(5), np.int64(1)),
        (np.float64(2.5), np.int32(0)),
        (np.int64(7), np.uint8(2)),
    ]:
        assert (
            open(weights.fetch_file(url, md5(data), timeout=timeout, retries=retries), "rb").read()
            == data
        )
    with pytest.raises(TypeError, match="retries"):
        weights.fetch_file(url, md5(data), retries=np.float64(1.0))
    with pytest.raises(TypeError, match="timeout"):
        weights.fetch_file(url, md5(data), timeout=np.bool_(True))


@pytest.mark.parametrize("variable", ["OFFLINE_ENV", "QUIET_ENV"])
@pytest.mark.parametrize("value", ["2", "enabled", "y", "-1", "on please"])
def test_a_boolean_variable_with_another_value_is_refused(
    fault_server, monkeypatch, variable, value
):
    data = payload()
    url = fault_server.add("w.h5", data)
    monkeypatch.setenv(getattr(weights, variable), value)
    for _ in range(2):  # not cached, then cached: refused both times
        with pytest.raises(ValueError) as info:
            weights.fetch_file(url, md5(data), progress=None)
        message = str(info.value)
        assert getattr(weights, variable) in message and repr(value) in message
        assert "1/true/yes/on" in message and "0/false/no/off" in message
        with open(os.path.join(cache_dir(), "w.h5"), "wb") as f:
            f.write(data)
    assert fault_server.log == []


@pytest.mark.parametrize(
    "value, offline",
    [
        ("1", True),
        ("TRUE", True),
        (" Yes ", True),
        ("on", True),
        ("0", False),
        ("False", False),
        ("NO", False),
        ("off", False),
        ("", False),
        ("  ", False),
    ],
)
def test_the_accepted_boolean_values(fault_server, monkeypatch, value, offline):
    data = payload()
    url = fault_server.add("w.h5", data)
    monkeypatch.setenv(weights.OFFLINE_ENV, value)
    monkeypatch.setenv(weights.QUIET_ENV, value)
    if offline:
        with pytest.raises(WeightsError, match=weights.OFFLINE_ENV):
            weights.fetch_file(url, md5(data))
    else:
        assert open(weights.fetch_file(url, md5(data)), "rb").read() == data
    assert len(fault_server.log) == (0 if offline else 1)


# --------------------------------------------------------------------------- progress


def test_progress_bar_on_request_and_quiet_otherwise(fault_server, capsys, monkeypatch):
    data = payload()
    weights.fetch_file(fault_server.add("a.h5", data), md5(data), progress=True)
    err = capsys.readouterr().err
    assert "a.h5" in err and "300.0 KB/300.0 KB" in err and err.endswith("\n")
    weights.fetch_file(fault_server.add("b.h5", data), md5(data))  # not a TTY: quiet
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    monkeypatch.setenv(weights.QUIET_ENV, "1")
    weights.fetch_file(fault_server.add("c.h5", data), md5(data))
    assert capsys.readouterr().err == ""
    assert visible_files() == ["a.h5", "b.h5", "c.h5"]


# --------------------------------------------------------------------------- registry


def test_registry_is_consistent():
    fnames = [entry.fname for entry in weights.REGISTRY.values()]
    assert len(set(fnames)) == len(fnames)
    for name, entry in weights.REGISTRY.items():
        assert entry.name == name
        assert weights.cache.safe_fname(entry.fname, entry.url) == entry.fname
        assert entry.url.startswith(weights.ORIGINS)
        weights.integrity.parse_digest(entry.file_hash)


def test_registry_rows_are_the_files_main_had_before_the_split():
    # tests/data/weights_registry.json was written from the registry before it became
    # a literal table: every name, path, hash, cache name and origin, in order.
    with open(REPO_ROOT / "tests" / "data" / "weights_registry.json") as f:
        snapshot = json.load(f)
    rows = [
        {
            **{k: v for k, v in dataclasses.asdict(e).items() if k != "variant"},
            "url": e.url,
            "fname": e.fname,
        }
        for e in weights.REGISTRY.values()
    ]
    assert rows == snapshot


def test_lookup_finds_a_file_by_model_top_and_variant():
    assert (
        weights.lookup("MobileNet", alpha=0.5, rows=128, include_top=False).name
        == "mobilenet_5_0_128_notop"
    )
    assert weights.lookup("MobileNetV2", alpha=1.4, rows=224).name == "mobilenet_v2_1.4_224"
    small = weights.lookup("MobileNetV3Small", alpha=1.0, minimalistic=True, include_top=False)
    assert small.name == "mobilenet_v3_small_minimalistic_224_1.0_float_notop"
    assert weights.lookup("EfficientNetB3").name == "efficientnetb3"
    assert weights.lookup("NASNetLarge", include_top=False).name == "nasnet_large_notop"
    # every model file is reachable by its structured key, and by exactly one
    for entry in weights.REGISTRY.values():
        if entry.model is not None:
            assert (
                weights.lookup(entry.model, include_top=entry.include_top, **dict(entry.variant))
                is entry
            )
    with pytest.raises(ValueError, match=r"alpha=0\.35, rows=96"):
        weights.lookup("MobileNetV2", alpha=0.2, rows=224)
    with pytest.raises(ValueError, match="alpha"):
        weights.lookup("MobileNet", rows=224)  # the variant must be given in full
    with pytest.raises(ValueError, match="Did you mean MobileNet"):
        weights.lookup("Mobilenet", alpha=1.0, rows=224)


class _Stop(Exception):
    """Raised by a stand-in for Keras' input-shape check, with the sizes it got."""


def test_model_table_is_keras_input_rules(monkeypatch):
    """Every model function (each in tests/architectures.py) has a row in the
    registry's model table with its keras.applications twin's default and minimum
    input size (keras_applications 1.0.8's for ResNeXt), read from the arguments
    Keras passes to its input-shape check (stopped there: nothing is built), and
    its module's preprocessing mode, read from the mode Keras' ``preprocess_input``
    passes on (none: the model preprocesses its input itself)."""
    import functools
    import inspect

    import keras
    import numpy as np
    from keras.src.applications import imagenet_utils as keras_imagenet_utils
    from keras_applications import imagenet_utils as ka108_imagenet_utils
    from keras_applications import resnet_common
    from keras_applications import resnext as resnext_108

    from architectures import ARCHITECTURES, keras_applications_108_modules

    def stop(*args, default_size, min_size, **kwargs):
        raise _Stop(default_size, min_size)

    def record(x, *args, mode="caffe", **kwargs):
        raise _Stop(mode)

    monkeypatch.setattr(keras_imagenet_utils, "obtain_input_shape", stop)
    monkeypatch.setattr(resnet_common, "_obtain_input_shape", stop)
    monkeypatch.setattr(keras_imagenet_utils, "preprocess_input", record)
    monkeypatch.setattr(ka108_imagenet_utils, "preprocess_input", record)
    assert {a.fn for a in ARCHITECTURES} == set(weights.registry.MODELS)
    specs = weights.registry.MODELS.values()
    assert {m.model for m in specs} == {e.model for e in weights.REGISTRY.values()} - {None}
    assert {m.preprocessing for m in specs} <= set(weights.registry.PREPROCESSING_MODES)
    image = np.zeros((1, 4, 4, 3), "float32")
    for arch in ARCHITECTURES:
        spec = weights.registry.model_spec(arch.fn)
        if arch.module == "mobilenet_v3":  # Keras checks the sizes itself
            source = inspect.getsource(keras.src.applications.mobilenet_v3.MobileNetV3)
            assert f"(rows < {spec.min_size} or cols < {spec.min_size})" in source
            assert f"rows != {spec.default_size}" in source
        else:
            with pytest.raises(_Stop) as sizes:
                arch.keras(weights=None)
            assert sizes.value.args == (spec.default_size, spec.min_size), arch.id
        if arch.module == "resnext":  # 1.0.8's, with Keras 3's modules injected
            preprocess = functools.partial(
                resnext_108.preprocess_input, **keras_applications_108_modules()
            )
        else:
            preprocess = getattr(keras.applications, arch.module).preprocess_input
        try:
            preprocess(image.copy())
            mode = "in-model"
        except _Stop as e:
            mode = e.args[0]
        assert spec.preprocessing == mode, arch.id
        assert spec.module == arch.module or (arch.fn, arch.module) == ("ResNet50", "resnet50"), (
            arch.id
        )


def test_model_docstrings_are_filled_from_the_registry():
    """Every model module's docstring, and its functions', are built from the
    registry: no template field is left, and each names its sizes and mode."""
    import importlib
    import re

    from keras_applications_bn._models import docs as docs_lib

    fields = re.compile(
        r"\{(default_sizes?|min_size|mode|sizes|alphas|minimalistic_alphas|files|\w+_size)\}"
    )
    for module in sorted({spec.module for spec in weights.registry.MODELS.values()} | {"resnet50"}):
        mod = importlib.import_module(f"keras_applications_bn.{module}")
        specs = weights.registry.module_models("resnet" if module == "resnet50" else module)
        docs = [mod.__doc__] + [getattr(mod, fn).__doc__ for fn in mod.__all__]
        assert not any(fields.search(doc) for doc in docs), module
        text = " ".join(mod.__doc__.split())
        assert f"{specs[0].min_size}x{specs[0].min_size}" in text, module
        for spec in specs:
            if not hasattr(mod, spec.model):
                continue  # resnet50 offers ResNet50 only
            assert str(spec.default_size) in text, spec.model
            assert f"({spec.default_size}, {spec.default_size}, 3)" in getattr(
                mod, spec.model
            ).__doc__ or (
                module.startswith("mobilenet")  # several sizes: tests/test_mobilenet*.py
            ), spec.model
    sizes = [spec.default_size for spec in weights.registry.module_models("efficientnet")]
    assert f"Default input {docs_lib.listed(sizes, 'and')} pixels" in " ".join(
        importlib.import_module("keras_applications_bn.efficientnet").__doc__.split()
    )


def test_resolve_names_accepts_names_models_and_patterns():
    assert weights.resolve_names(["resnet50"]) == ["resnet50"]
    assert weights.resolve_names("ResNet50") == ["resnet50", "resnet50_notop"]
    assert weights.resolve_names(["resnet50", "resnet50_*", "resnet50"]) == [
        "resnet50",
        "resnet50_notop",
    ]
    assert weights.resolve_names(["resnet50*"]) == [
        "resnet50",
        "resnet50_notop",
        "resnet50v2",
        "resnet50v2_notop",
    ]
    with pytest.raises(ValueError, match="resnet50_notop"):
        weights.resolve_names(["resnet50_nontop"])


def test_cached_path_and_manifest_stay_small_and_hidden(fault_server):
    data = payload()
    weights.fetch_file(fault_server.add("w.h5", data), md5(data))
    expected = os.path.join(cache_dir(), "resnet50_weights_tf_dim_ordering_tf_kernels.h5")
    assert weights.cached_path("resnet50") == expected
    state = os.path.join(cache_dir(), weights.STATE_DIR)
    with open(os.path.join(state, "manifest.json")) as f:
        assert json.load(f)["files"].keys() == {"w.h5"}
    assert os.path.getsize(os.path.join(state, "manifest.json")) < 1000
