"""A shared cache cannot be poisoned (issue #15, rules 3-5).

Rule 3: the cache holds only files that are what they claim to be (an error page,
a short body or a garbage partial file is never trusted; damaged or foreign
weights files fail with one clear error). Rule 4: links, hard links and
directories planted in the cache are never followed or trusted. Rule 5: a
read-only or full cache works or fails clearly.

Read-only caches are simulated in-process by refusing every write under the cache
directory with EROFS (the tests run as root, which ignores file modes), and for
real in a fresh process on a read-only bind mount (``unshare -m``, slow lane). A
full disk is a mocked ENOSPC at the write, and for real a small tmpfs (slow lane).
"""

import contextlib
import errno
import json
import os
import shutil
import subprocess
import sys
import warnings
from unittest import mock

import pytest
from test_weights import (  # the cache helpers
    cache_dir,
    manifest,
    md5,
    partials,
    sha256,
    visible_files,
)

from keras_applications_bn import weights
from keras_applications_bn.__main__ import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main
from keras_applications_bn.weights import WeightsError

from conftest import REPO_ROOT, hdf5_bytes, python_env

HTML = (
    b"<!DOCTYPE html>\n<html><head><title>Error</title></head><body>Quota exceeded</body></html>\n"
)


def plant_partial(url, data, expected=None):
    """A partial download of ``url`` that a fetch would resume onto."""
    files = os.path.join(cache_dir(), weights.STATE_DIR, "files")
    os.makedirs(files, exist_ok=True)
    part = os.path.join(files, os.path.basename(url) + ".part")
    with open(part, "wb") as f:
        f.write(data)
    with open(part + "info", "w") as f:
        json.dump({"url": url, "expected": expected}, f)
    return part


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    monkeypatch.setattr(weights.http, "_BACKOFF_BASE", 0.01)


# --------------------------------------------------------------------------- rule 3: downloads


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "text/plain"])
def test_an_error_page_served_with_200_is_refused_by_its_content_type(fault_server, content_type):
    url = fault_server.add("mobilenet_2_5_128_tf_no_top.h5", HTML, default=("type", content_type))
    with pytest.raises(WeightsError) as info:
        weights.fetch_file(url, retries=3)
    message = str(info.value)
    assert url in message and content_type.split(";")[0] in message and "not retried" in message
    assert len(fault_server.log) == 1  # not retried
    assert visible_files() == [] and partials() == [] and manifest() == {}


def test_an_error_page_with_a_binary_content_type_is_not_trusted(fault_server):
    url = fault_server.add("mobilenet.h5", HTML)
    with pytest.raises(WeightsError, match="HTML page") as info:
        weights.fetch_file(url)
    assert url in str(info.value) and "no HDF5 signature" in str(info.value)
    assert visible_files() == [] and partials() == [] and manifest() == {}
    # Fixing the mirror is enough: nothing poisoned was remembered.
    good = hdf5_bytes(seed=1)
    fault_server.add("mobilenet.h5", good)
    assert open(weights.fetch_file(url), "rb").read() == good
    assert manifest()["mobilenet.h5"]["digest"] == sha256(good)


@pytest.mark.parametrize(
    "fault", [("short", 60_000), ("nolength", 60_000)], ids=["lying-length", "no-length"]
)
def test_a_short_body_is_not_trusted(fault_server, fault):
    good = hdf5_bytes(100_000)
    url = fault_server.add("mobilenet.h5", good, faults=[fault])
    with pytest.raises(WeightsError, match="is truncated: its HDF5 superblock says") as info:
        weights.fetch_file(url)
    assert url in str(info.value)
    assert visible_files() == [] and partials() == [] and manifest() == {}
    assert open(weights.fetch_file(url), "rb").read() == good  # the next try is whole


def test_a_garbage_partial_file_is_not_resumed_onto(fault_server):
    good = hdf5_bytes(100_000)
    url = fault_server.add("mobilenet.h5", good)
    plant_partial(url, HTML * 100)  # planted, or left behind by a broken mirror
    assert open(weights.fetch_file(url), "rb").read() == good
    assert [r["range"] for r in fault_server.log] == [None]  # started from scratch
    assert partials() == []


def test_a_bad_partial_file_of_a_pinned_file_starts_over_once(fault_server):
    good = hdf5_bytes(100_000)
    url = fault_server.add("w.h5", good)
    plant_partial(url, b"\0" * 50_000, expected=md5(good))  # right length, wrong bytes
    assert open(weights.fetch_file(url, md5(good)), "rb").read() == good
    assert [r["range"] for r in fault_server.log] == ["bytes=50000-", None]


def test_a_poisoned_cache_entry_is_dropped_and_replaced(fault_server, capsys, monkeypatch):
    # What an older version (or a Keras cache) left behind: an error page under the
    # weights' name, recorded as trusted on first use.
    path = os.path.join(cache_dir(), "mobilenet.h5")
    with open(path, "wb") as f:
        f.write(HTML)
    weights.cache.update_manifest(
        cache_dir(),
        "mobilenet.h5",
        weights.cache.new_record(
            path, weights.integrity.Digest("sha256", sha256(HTML)), "first-use", "x"
        ),
    )
    assert main(["verify"]) == EXIT_FAILED
    out = capsys.readouterr().out
    assert "CORRUPT  mobilenet.h5" in out and "no HDF5 signature" in out and "HTML page" in out
    assert os.path.exists(path)  # verify reports; the next fetch replaces
    monkeypatch.setenv(weights.OFFLINE_ENV, "1")
    with pytest.raises(WeightsError, match="was not trusted"):
        weights.fetch_file(fault_server.url("mobilenet.h5"))
    assert visible_files() == [] and manifest() == {}  # the junk and its record are gone
    monkeypatch.delenv(weights.OFFLINE_ENV)
    good = hdf5_bytes(seed=2)
    url = fault_server.add("mobilenet.h5", good)
    assert open(weights.fetch_file(url), "rb").read() == good  # no `forget` needed
    assert manifest()["mobilenet.h5"]["digest"] == sha256(good)


def test_an_unrecorded_truncated_file_is_not_trusted_on_first_use(fault_server, monkeypatch):
    good = hdf5_bytes(100_000)
    with open(os.path.join(cache_dir(), "mobilenet.h5"), "wb") as f:
        f.write(good[:70_000])  # a Keras cache after an interrupted copy
    monkeypatch.setenv(weights.OFFLINE_ENV, "1")
    with pytest.raises(WeightsError, match="was not trusted .*is truncated"):
        weights.fetch_file(fault_server.url("mobilenet.h5"))
    monkeypatch.delenv(weights.OFFLINE_ENV)
    url = fault_server.add("mobilenet.h5", good)
    assert open(weights.fetch_file(url), "rb").read() == good


# --------------------------------------------------------------------------- rule 3: loading


@pytest.fixture(scope="module")
def small_models():
    import keras

    def build(name, units):
        return keras.Sequential(
            [keras.Input((8,)), keras.layers.Dense(units[0]), keras.layers.Dense(units[1])],
            name=name,
        )

    return build("model_a", (4, 2)), build("model_b", (3, 2))


@pytest.mark.parametrize("content", [b"", HTML, "truncated"], ids=["empty", "html", "truncated"])
@pytest.mark.parametrize("suffix", [".h5", ".weights.h5"])
def test_a_damaged_weights_file_names_the_file_and_the_fix(small_models, tmp_path, content, suffix):
    model = small_models[0]
    path = tmp_path / f"w{suffix}"
    if content == "truncated":
        model.save_weights(tmp_path / "full.weights.h5")
        content = (tmp_path / "full.weights.h5").read_bytes()[:-100]
    path.write_bytes(content)
    with pytest.raises(ValueError) as info:
        weights.load_weights(model, str(path), name="unused")
    message = str(info.value)
    assert str(path) in message and "complete weights file" in message
    assert "signature" in message or "truncated" in message or "empty" in message


@pytest.mark.parametrize("suffix", [".weights.h5", ".keras"])
def test_weights_of_another_architecture_give_one_clear_error(small_models, tmp_path, suffix):
    model_a, model_b = small_models
    path = str(tmp_path / f"a{suffix}")
    model_a.save(path) if suffix == ".keras" else model_a.save_weights(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError) as info:
            weights.load_weights(model_b, path, name="unused")
    message = str(info.value)
    assert path in message and "'model_b'" in message and "do not fit" in message
    assert "(8, 3)" in message and "(8, 4)" in message  # the first mismatch, in words
    if suffix == ".keras":
        assert "'model_a' (Sequential)" in message  # the file says which model it holds
    else:
        assert "another architecture (4 weight tensors)" in message
    assert "[[" not in message and len(message) < 800  # no arrays dumped
    assert [str(w.message) for w in caught] == []


@pytest.mark.slow
def test_a_model_function_given_another_familys_weights(tmp_path):
    """The issue's case: MobileNet weights given to MobileNetV2 (Keras: 100+ warnings
    with a hint about `build()`, then arrays in the message)."""
    from keras_applications_bn import MobileNet, MobileNetV2

    source = MobileNet(weights=None, alpha=0.25, include_top=False, input_shape=(32, 32, 3))
    for suffix in (".weights.h5", ".keras"):
        path = str(tmp_path / f"mobilenet{suffix}")
        source.save(path) if suffix == ".keras" else source.save_weights(path)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(ValueError) as info:
                MobileNetV2(weights=path, alpha=0.35, include_top=False, input_shape=(32, 32, 3))
        message = str(info.value)
        assert path in message and "'mobilenetv2_0.35_32'" in message and "[[" not in message
        assert suffix == ".weights.h5" or "'mobilenet_0.25_32' (Functional)" in message
        assert caught == []


def test_a_damaged_cached_file_says_how_to_replace_it(small_models, tmp_path, monkeypatch):
    path = tmp_path / "cached.h5"
    path.write_bytes(hdf5_bytes()[:-500])
    monkeypatch.setattr(weights, "fetch", lambda name: str(path))
    with pytest.raises(WeightsError) as info:
        weights.load_weights(small_models[0], "imagenet", name="mobilenet_1_0_224")
    message = str(info.value)
    assert str(path) in message and "truncated" in message
    assert "verify mobilenet_1_0_224" in message and "fetch mobilenet_1_0_224" in message


def test_a_model_function_names_a_damaged_weights_file(tmp_path):
    from keras_applications_bn import MobileNet

    path = tmp_path / "mine.weights.h5"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="is empty") as info:
        MobileNet(weights=str(path), alpha=0.25, include_top=False, input_shape=(32, 32, 3))
    assert str(path) in str(info.value)


# --------------------------------------------------------------------------- rule 4: links


def test_a_partial_file_planted_as_a_symlink_never_writes_outside(fault_server, tmp_path):
    good = hdf5_bytes(100_000)
    url = fault_server.add("mobilenet.h5", good)
    outside = tmp_path / "victim.txt"
    outside.write_bytes(b"\x89HDF\r\n\x1a\n precious")
    part = plant_partial(url, b"")
    os.remove(part)
    os.symlink(outside, part)
    assert open(weights.fetch_file(url), "rb").read() == good
    assert outside.read_bytes() == b"\x89HDF\r\n\x1a\n precious"
    assert partials() == [] and visible_files() == ["mobilenet.h5"]


def test_a_partial_file_planted_as_a_hard_link_never_writes_outside(fault_server, tmp_path):
    good = hdf5_bytes(100_000)
    url = fault_server.add("w.h5", good)
    outside = tmp_path / "victim.h5"
    outside.write_bytes(good[:1000])  # a plausible prefix
    part = plant_partial(url, b"", expected=md5(good))
    os.remove(part)
    os.link(outside, part)
    assert open(weights.fetch_file(url, md5(good)), "rb").read() == good
    assert outside.read_bytes() == good[:1000]
    assert [r["range"] for r in fault_server.log] == [None]


def test_the_partial_file_is_opened_without_following_a_link(fault_server, tmp_path):
    outside = tmp_path / "victim"
    outside.write_bytes(b"precious")
    target = os.path.join(cache_dir(), "w.h5")
    download = weights.http.Download(
        fault_server.url("w.h5"),
        target,
        None,
        http_host=None,
        timeout=1,
        retries=0,
        progress=False,
        size=None,
    )
    os.symlink(outside, download.part)  # planted after the checks, before the write
    with pytest.raises(OSError) as info:
        download._open_part(append=True)
    assert info.value.errno == errno.ELOOP and outside.read_bytes() == b"precious"


def test_a_symlinked_cache_entry_is_not_trusted(fault_server, tmp_path, capsys):
    good = hdf5_bytes(100_000)
    url = fault_server.add("mobilenet.h5", good)
    outside = tmp_path / "elsewhere.h5"
    outside.write_bytes(good)  # the right bytes, but not the cache's to vouch for
    os.symlink(outside, os.path.join(cache_dir(), "mobilenet.h5"))
    check = weights.integrity.check_cached(cache_dir(), "mobilenet.h5", None)
    assert check.status == "corrupt" and "symbolic link" in check.reason
    path = weights.fetch_file(url)
    assert not os.path.islink(path) and os.path.realpath(path) == os.path.join(
        os.path.realpath(cache_dir()), "mobilenet.h5"
    )
    assert outside.read_bytes() == good and len(fault_server.log) == 1


def test_verify_reports_a_symlinked_registry_file(test_registry_file, tmp_path, capsys):
    target = os.path.join(cache_dir(), test_registry_file.fname)
    os.symlink(tmp_path / "x.h5", target)
    assert main(["verify", "testnet_notop"]) == EXIT_FAILED
    assert "symbolic link" in capsys.readouterr().out
    assert os.path.islink(target)  # verify reports, it does not delete
    assert main(["path", "testnet_notop"]) == EXIT_FAILED  # and `path` does not vouch for it
    assert "not cached" in capsys.readouterr().err


@pytest.mark.parametrize("planted", ["state", "files", "lock"])
def test_bookkeeping_links_are_refused(fault_server, tmp_path, planted):
    good = hdf5_bytes(10_000)
    url = fault_server.add("w.h5", good)
    outside = tmp_path / "outside"
    outside.mkdir()
    state = os.path.join(cache_dir(), weights.STATE_DIR)
    if planted == "state":
        os.symlink(outside, state)
    else:
        os.makedirs(os.path.join(state, "files"))
        if planted == "files":
            os.rmdir(os.path.join(state, "files"))
            os.symlink(outside, os.path.join(state, "files"))
        else:
            os.symlink(outside / "w.h5.lock", os.path.join(state, "files", "w.h5.lock"))
    with pytest.raises(WeightsError, match="symbolic link") as info:
        weights.fetch_file(url, md5(good))
    assert "Remove it" in str(info.value)
    assert os.listdir(outside) == [] and fault_server.log == []


def test_a_directory_where_a_file_belongs_is_a_clear_error(fault_server):
    url = fault_server.add("w.h5", hdf5_bytes(10_000))
    os.mkdir(os.path.join(cache_dir(), "w.h5"))
    with pytest.raises(WeightsError, match="is a directory where the cache keeps a file"):
        weights.fetch_file(url)


def test_a_hard_linked_cache_entry_is_rehashed_every_time(fault_server, tmp_path, monkeypatch):
    good = hdf5_bytes(10_000)
    url = fault_server.add("w.h5", good)
    path = weights.fetch_file(url, md5(good))
    os.link(path, tmp_path / "other-name.h5")  # someone else can now change it in place
    hashed = []
    real = weights.integrity.hash_file
    monkeypatch.setattr(weights.integrity, "hash_file", lambda p, a: hashed.append(p) or real(p, a))
    weights.fetch_file(url, md5(good))
    weights.fetch_file(url, md5(good))
    assert hashed == [path, path] and len(fault_server.log) == 1


# --------------------------------------------------------------------------- rule 5: read-only


@contextlib.contextmanager
def read_only(directory):
    """Every write under ``directory`` fails with EROFS, as on a read-only mount
    (root ignores file modes, so a chmod would not do)."""
    root = os.path.realpath(directory)
    real = {n: getattr(os, n) for n in ("open", "mkdir", "unlink", "remove", "replace", "rename")}

    def inside(path):
        try:
            full = os.path.realpath(os.fspath(path))
        except TypeError:
            return False
        return full == root or full.startswith(root + os.sep)

    def refuse(path):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(path))

    def fake_open(path, flags, mode=0o777, *, dir_fd=None):
        writes = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
        if flags & writes and inside(path):
            refuse(path)
        return real["open"](path, flags, mode, dir_fd=dir_fd)

    def fake_mkdir(path, *args, **kwargs):
        if inside(path):
            if os.path.lexists(path):
                raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), os.fspath(path))
            refuse(path)
        return real["mkdir"](path, *args, **kwargs)

    def guard(name):
        def call(path, *args, **kwargs):
            if inside(path):
                refuse(path)
            return real[name](path, *args, **kwargs)

        return call

    with mock.patch.multiple(
        os,
        open=fake_open,
        mkdir=fake_mkdir,
        unlink=guard("unlink"),
        remove=guard("remove"),
        replace=guard("replace"),
        rename=guard("rename"),
    ):
        yield


@pytest.fixture
def test_registry_file(fault_server, monkeypatch):
    """A registry file without a pinned hash (like MobileNet's), served as the mirror."""
    entry = weights.WeightFile("testnet_notop", "test/testnet_notop.h5", None, "TestNet", False)
    monkeypatch.setitem(weights.REGISTRY, entry.name, entry)
    fault_server.add(entry.path, hdf5_bytes(50_000, seed=7))
    monkeypatch.setenv(weights.MIRROR_ENV, fault_server.base_url)
    return entry


def test_a_read_only_cache_serves_verified_files_and_verify_runs(
    test_registry_file, fault_server, monkeypatch, capsys
):
    pinned = hdf5_bytes(20_000, seed=8)
    url = fault_server.add("pinned.h5", pinned)
    weights.fetch("testnet_notop")
    weights.fetch_file(url, md5(pinned))
    # A file copied in without our bookkeeping (rsync of a Keras cache).
    copied = os.path.join(cache_dir(), "copied.h5")
    with open(copied, "wb") as f:
        f.write(hdf5_bytes(5_000, seed=9))
    monkeypatch.setenv(weights.OFFLINE_ENV, "1")
    before = sorted(os.walk(cache_dir()))
    with read_only(cache_dir()):
        assert weights.default_cache_dir() == cache_dir()  # not replaced by a temporary one
        assert weights.fetch("testnet_notop") == os.path.join(cache_dir(), "testnet_notop.h5")
        assert weights.fetch_file(url, md5(pinned)) == os.path.join(cache_dir(), "pinned.h5")
        assert weights.fetch_file(fault_server.url("copied.h5")) == copied  # checked, not recorded
        assert main(["verify"]) == EXIT_OK
        out = capsys.readouterr().out
        assert "OK       testnet_notop  sha256 trusted on first use" in out
        assert "0 problem(s)" in out
        with pytest.raises(WeightsError, match="Expected at " + cache_dir()):
            weights.fetch_file(fault_server.url("absent.h5"))
        monkeypatch.delenv(weights.OFFLINE_ENV)
        with pytest.raises(WeightsError, match="cannot be written") as info:
            weights.fetch_file(fault_server.add("absent.h5", pinned))
        assert cache_dir() in str(info.value)
        assert main(["forget", "testnet_notop"]) == EXIT_FAILED
        assert "cannot be written" in capsys.readouterr().err
    assert sorted(os.walk(cache_dir())) == before
    assert len(fault_server.log) == 2  # the two downloads before it was read-only


def test_keras_home_or_cache_dir_that_is_a_file(tmp_path, monkeypatch, capsys):
    a_file = tmp_path / "not-a-dir"
    a_file.write_text("x")
    monkeypatch.setenv("KERAS_HOME", str(a_file))
    assert main(["fetch", "resnet50"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "$KERAS_HOME" in err and str(a_file) in err and "Traceback" not in err
    with pytest.raises(ValueError, match="`cache_dir`"):
        weights.fetch_file("https://example.com/w.h5", cache_dir=a_file)


# --------------------------------------------------------------------------- rule 5: full disk


def test_a_full_disk_is_a_clear_error_and_leaves_nothing_behind(
    test_registry_file, fault_server, monkeypatch, capsys
):
    real_open_part = weights.http.Download._open_part

    class Full:
        def __init__(self, f):
            self.f, self.written = f, 0

        def write(self, chunk):
            if self.written + len(chunk) > 20_000:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self.written += len(chunk)
            return self.f.write(chunk)

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    monkeypatch.setattr(
        weights.http.Download, "_open_part", lambda self, append: Full(real_open_part(self, append))
    )
    assert main(["fetch", "testnet_notop", "-q"]) == EXIT_FAILED
    err = capsys.readouterr().err
    assert f"Not enough space in {cache_dir()} for testnet_notop.h5" in err
    assert "No space left on device" in err and "Traceback" not in err
    assert visible_files() == [] and partials() == []
    monkeypatch.undo()  # space freed: the next fetch works
    monkeypatch.setitem(weights.REGISTRY, "testnet_notop", test_registry_file)
    monkeypatch.setenv(weights.MIRROR_ENV, fault_server.base_url)
    assert main(["fetch", "testnet_notop", "-q"]) == EXIT_OK


def test_too_little_space_is_known_before_the_download(test_registry_file, monkeypatch):
    monkeypatch.setattr(weights.safety, "free_bytes", lambda directory: 1000)
    with pytest.raises(WeightsError) as info:
        weights.fetch("testnet_notop")
    message = str(info.value)
    assert cache_dir() in message and "needs 51.4 KB more, 1.0 KB free" in message
    assert visible_files() == [] and partials() == []


# --------------------------------------------------------------------------- rule 5: CLI, URLs


def test_forget_of_an_unknown_name_is_a_usage_error(test_registry_file, capsys):
    weights.fetch("testnet_notop")
    assert main(["forget", "testnet_notop", "no_such_file.h5"]) == EXIT_USAGE
    assert "no_such_file.h5" in capsys.readouterr().err
    assert visible_files() == ["testnet_notop.h5"]  # nothing was forgotten
    with pytest.raises(ValueError, match="resnet50_notop"):
        weights.forget("resnet50_nottop")


def test_a_redirect_to_plain_http_is_refused_at_once(fault_server):
    url = fault_server.add("w.h5", b"", default=("redirect", "http://example.com/w.h5"))
    with pytest.raises(WeightsError, match="Refusing redirect") as info:
        weights.fetch_file(url, retries=4)
    assert "Check your network" not in str(info.value)
    assert len(fault_server.log) == 1 and partials() == []


def test_credentials_in_a_url_are_refused_without_echoing_them(fault_server, monkeypatch):
    with pytest.raises(ValueError, match="credentials") as info:
        weights.fetch_file("https://user:s3cret@example.com/w.h5")
    assert "s3cret" not in str(info.value)
    url = fault_server.add("w.h5", b"", default=("redirect", "https://u:s3cret@example.com/w.h5"))
    with pytest.raises(WeightsError, match="credentials") as info:
        weights.fetch_file(url, retries=4)
    assert "s3cret" not in str(info.value) and len(fault_server.log) == 1
    monkeypatch.setenv(weights.MIRROR_ENV, "https://u:s3cret@mirror.example.com/")
    with pytest.raises(ValueError, match=weights.MIRROR_ENV) as info:
        weights.fetch("resnet50")
    assert "s3cret" not in str(info.value)


# --------------------------------------------------------------------------- what is read back


def plant_manifest(files, raw=None):
    """Write the cache's manifest as someone else could: ``{"version": 1, "files": files}``
    (or the text ``raw``)."""
    state = os.path.join(cache_dir(), weights.STATE_DIR)
    os.makedirs(state, exist_ok=True)
    with open(os.path.join(state, "manifest.json"), "w") as f:
        f.write(raw if raw is not None else json.dumps({"version": 1, "files": files}))


def record_of(path, trust="first-use"):
    """A well-formed manifest record of the file at ``path``."""
    data = open(path, "rb").read()
    st = os.stat(path)
    return {
        "algorithm": "sha256",
        "digest": sha256(data),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "trust": trust,
        "url": None,
    }


#: Manifest keys that are not a plain file name inside the cache; ``{outside}`` is a
#: file outside the cache, ``{up}`` the relative path from the cache to it.
HOSTILE_KEYS = {
    "absolute": "{outside}",
    "dotdot": "{up}",
    "nested": "sub/secret.h5",  # a real file in a directory inside the cache
    "nul": "secret.h5\0.txt",
    "empty": "",
    "dot": ".",
    "parent": "..",
    "state-dir": weights.STATE_DIR,
    "backslash": "..\\secret.h5",
    "terminal-escape": "\x1b[2Jsecret.h5",
    "too-long": "s" * 300 + ".h5",
}


@pytest.fixture
def hostile_manifest(tmp_path):
    """``plant(kind)`` writes a manifest whose only record names a file outside the
    cache (or a nested one) under the key ``HOSTILE_KEYS[kind]``, with its true
    sha256, and returns ``(key, outside file, its sha256)``."""
    secret = hdf5_bytes(5_000, seed=11)
    outside = tmp_path / "outside" / "secret.h5"
    outside.parent.mkdir()
    outside.write_bytes(secret)
    nested = os.path.join(cache_dir(), "sub", "secret.h5")
    os.makedirs(os.path.dirname(nested))
    with open(nested, "wb") as f:
        f.write(secret)

    def plant(kind):
        key = HOSTILE_KEYS[kind].format(outside=outside, up=os.path.relpath(outside, cache_dir()))
        plant_manifest({key: record_of(outside)})
        return key, outside, sha256(secret)

    return plant


def assert_inside_cache(checks):
    for check in checks:
        assert os.path.dirname(check.path) == cache_dir(), check
        assert os.path.basename(check.path) == check.fname and check.fname in {
            e.fname for e in weights.REGISTRY.values()
        } | {"w.h5"}, check


@pytest.mark.parametrize("kind", list(HOSTILE_KEYS))
def test_verify_never_follows_a_hostile_manifest_key(hostile_manifest, kind):
    key, outside, digest = hostile_manifest(kind)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        checks = weights.verify()
    assert_inside_cache(checks)
    assert all(c.actual != digest and c.status == "missing" for c in checks)
    [warning] = [w for w in caught if issubclass(w.category, weights.ManifestWarning)]
    assert "damaged records" in str(warning.message) and repr(key)[:40] in str(warning.message)


@pytest.mark.parametrize("kind", list(HOSTILE_KEYS))
def test_the_command_line_never_follows_a_hostile_manifest_key(hostile_manifest, kind, capsys):
    key, outside, digest = hostile_manifest(kind)
    assert main(["verify"]) == EXIT_FAILED
    out, err = capsys.readouterr()
    assert "DAMAGED" in out and "1 problem(s)" in out and "OK " not in out
    assert "\x1b" not in out and "\0" not in out  # the key is shown escaped
    assert main(["list"]) == EXIT_OK
    for argv in (["path", key], ["forget", key]):
        assert main(argv) == EXIT_USAGE
    out, err = capsys.readouterr()
    printed = out + err
    assert digest not in printed and str(outside) not in printed.replace(repr(str(outside)), "")
    assert outside.exists() and os.path.exists(os.path.join(cache_dir(), "sub", "secret.h5"))


@pytest.mark.parametrize("kind", ["absolute", "dotdot", "nested", "nul", "empty"])
def test_a_fetch_drops_hostile_manifest_keys(hostile_manifest, fault_server, kind):
    key, outside, digest = hostile_manifest(kind)
    good = hdf5_bytes(10_000)
    url = fault_server.add("w.h5", good)
    path = weights.fetch_file(url)
    assert path == os.path.join(cache_dir(), "w.h5") and open(path, "rb").read() == good
    assert list(manifest()) == ["w.h5"]
    with open(os.path.join(cache_dir(), weights.STATE_DIR, "manifest.json")) as f:
        assert list(json.load(f)["files"]) == ["w.h5"]  # written without the hostile key
    assert_inside_cache(weights.verify())


class _JsonReturning:
    """A stand-in for the ``json`` module whose ``load``/``loads`` return ``data``:
    a manifest with keys no JSON text can hold (ints, None, ...)."""

    def __init__(self, data):
        self.data = data
        self.dump, self.dumps = json.dump, json.dumps

    def load(self, *args, **kwargs):
        return self.data

    def loads(self, *args, **kwargs):
        return self.data


def test_non_string_manifest_keys_are_ignored(hostile_manifest, monkeypatch, capsys):
    key, outside, digest = hostile_manifest("absolute")
    record = record_of(outside)
    data = {"version": 1, "files": {7: record, None: record, 1.5: record, ("a",): record}}
    monkeypatch.setattr(weights.safety, "json", _JsonReturning(data))
    assert main(["verify"]) == EXIT_FAILED
    assert capsys.readouterr().out.count("DAMAGED") == 4
    with pytest.warns(weights.ManifestWarning, match="is a int, not a string"):
        assert_inside_cache(weights.verify())
    assert manifest() == {}


DAMAGED_RECORDS = {
    "no-algorithm": {"digest": "0" * 64, "trust": "first-use"},
    "bogus-algorithm": {"algorithm": "bogus", "digest": "0" * 64, "trust": "first-use"},
    "list-algorithm": {"algorithm": ["sha256"], "digest": "0" * 64, "trust": "first-use"},
    "no-digest": {"algorithm": "sha256", "trust": "first-use"},
    "int-digest": {"algorithm": "sha256", "digest": 5, "trust": "first-use"},
    "short-digest": {"algorithm": "sha256", "digest": "0" * 32, "trust": "first-use"},
    "text-size": {"algorithm": "sha256", "digest": "0" * 64, "trust": "first-use", "size": "big"},
    "bool-mtime": {
        "algorithm": "sha256",
        "digest": "0" * 64,
        "trust": "first-use",
        "mtime_ns": True,
    },
    "no-trust": {"algorithm": "sha256", "digest": "0" * 64},
    "int-trust": {"algorithm": "sha256", "digest": "0" * 64, "trust": 3},
    "list-url": {"algorithm": "sha256", "digest": "0" * 64, "trust": "first-use", "url": []},
    "list-record": ["sha256", "0" * 64],
    "string-record": "sha256:" + "0" * 64,
}


@pytest.mark.parametrize("damage", list(DAMAGED_RECORDS) + ["files-list", "files-string"])
def test_a_damaged_manifest_record_is_ignored_like_garbage(fault_server, damage, capsys):
    """Valid JSON, damaged records: as if the record were not there (the download
    starts afresh), never a crash of every fetch or verify."""
    good = hdf5_bytes(10_000)
    url = fault_server.add("w.h5", good)
    if damage.startswith("files-"):
        plant_manifest(
            None, raw=json.dumps({"version": 1, "files": [] if damage == "files-list" else "x"})
        )
    else:
        plant_manifest({"w.h5": DAMAGED_RECORDS[damage]})
    assert main(["verify"]) == EXIT_FAILED and "DAMAGED" in capsys.readouterr().out
    with pytest.warns(weights.ManifestWarning):
        assert [c.status for c in weights.verify() if c.fname == "w.h5"] == []
    assert open(weights.fetch_file(url), "rb").read() == good
    assert manifest()["w.h5"]["digest"] == sha256(good)  # recorded anew, cleanly
    assert main(["verify"]) == EXIT_OK
    assert "DAMAGED" not in capsys.readouterr().out


@pytest.mark.parametrize(
    "raw",
    ["{not json", "[1, 2]", "null", "[" * 100_000, "\udcff"],
    ids=["garbage", "list", "null", "deep", "bad-utf8"],
)
def test_an_unreadable_manifest_is_ignored(fault_server, raw, capsys):
    good = hdf5_bytes(10_000)
    url = fault_server.add("w.h5", good)
    state = os.path.join(cache_dir(), weights.STATE_DIR)
    os.makedirs(state)
    with open(os.path.join(state, "manifest.json"), "w", errors="surrogateescape") as f:
        f.write(raw)
    assert open(weights.fetch_file(url), "rb").read() == good
    assert list(manifest()) == ["w.h5"]


def test_a_manifest_planted_as_a_fifo_does_not_hang(fault_server):
    good = hdf5_bytes(10_000)
    url = fault_server.add("w.h5", good)
    state = os.path.join(cache_dir(), weights.STATE_DIR)
    os.makedirs(state)
    os.mkfifo(os.path.join(state, "manifest.json"))
    with pytest.warns(weights.ManifestWarning, match="not a regular file"):
        weights.verify()
    assert open(weights.fetch_file(url), "rb").read() == good  # the FIFO is replaced


@pytest.mark.parametrize(
    "info",
    [
        {"etag": 123},
        {"etag": '"v1"\r\nX-Injected: 1'},
        {"etag": None, "last_modified": ["Mon, 01 Jan 2024 00:00:00 GMT"]},
        {"etag": 'W/"weak"', "last_modified": {"day": 1}},
        {"etag": "caf\u00e9\u20ac"},
    ],
    ids=[
        "int-etag",
        "header-injection",
        "list-last-modified",
        "dict-last-modified",
        "non-ascii-etag",
    ],
)
def test_a_damaged_partinfo_restarts_the_download(fault_server, info):
    good = hdf5_bytes(100_000)
    url = fault_server.add("w.h5", good)
    part = plant_partial(url, good[:40_000], expected=md5(good))
    with open(part + "info") as f:
        stored = json.load(f)
    with open(part + "info", "w") as f:
        json.dump(dict(stored, **info), f)
    assert open(weights.fetch_file(url, md5(good)), "rb").read() == good
    assert [r["range"] for r in fault_server.log] == [None]  # started over, no crash
    assert partials() == []


@pytest.mark.parametrize("info", ["[1]", "{bad", '{"url": 5}', '{"url": "%s", "expected": 7}'])
def test_an_unusable_partinfo_restarts_the_download(fault_server, info):
    good = hdf5_bytes(100_000)
    url = fault_server.add("w.h5", good)
    part = plant_partial(url, good[:40_000])
    with open(part + "info", "w") as f:
        f.write(info.replace("%s", url))
    assert open(weights.fetch_file(url), "rb").read() == good
    assert [r["range"] for r in fault_server.log] == [None]


# --------------------------------------------------------------------------- fresh processes

# The subprocesses import this checkout's weights package and __main__.py without the
# package's __init__ (which imports Keras: ~5 s a process); both need only the
# standard library (and h5py for the HDF5 check).
IMPORT_CLI = (
    "import json, os, sys, types\n"
    "pkg = types.ModuleType('keras_applications_bn')\n"
    f"pkg.__path__ = [{str(REPO_ROOT / 'keras_applications_bn')!r}]\n"
    "sys.modules['keras_applications_bn'] = pkg\n"
    "from keras_applications_bn import weights\n"
    "from keras_applications_bn.__main__ import main\n"
)


def run_fresh(code, *, shell_before=None, env=None):
    """Run ``code`` in a fresh Python process (in a private mount namespace after the
    shell commands ``shell_before`` when given); return ``(proc, result)`` where
    ``result`` is what the code printed as ``RESULT <json>``."""
    full_env = python_env()
    full_env.update(env or {})
    if shell_before:
        argv = [
            "unshare",
            "-m",
            "sh",
            "-ec",
            f'{shell_before}\nexec "$0" -c "$1"',
            sys.executable,
            code,
        ]
    else:
        argv = [sys.executable, "-c", code]
    proc = subprocess.run(argv, env=full_env, capture_output=True, text=True, timeout=120)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, (
        f"{proc.returncode}\n{proc.stdout}\n{proc.stderr[-4000:]}"
    )
    return proc, json.loads(lines[-1][len("RESULT ") :])


def require_mounts(tmp_path):
    """Skip unless this machine lets a process mount in its own namespace (root in a
    container that allows it); the in-process tests above cover the same code with
    mocked EROFS/ENOSPC everywhere."""
    probe = tmp_path / "mount-probe"
    probe.mkdir()
    if shutil.which("unshare") is None:
        pytest.skip("needs `unshare` to mount a read-only or tiny file system")
    proc = subprocess.run(
        ["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs {probe}"],
        capture_output=True,
        timeout=30,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount in a private namespace here: {proc.stderr.decode()[-200:]}")


def test_a_planted_symlink_partial_in_a_fresh_process(fault_server, tmp_path):
    good = hdf5_bytes(100_000)
    url = fault_server.add("mobilenet.h5", good)
    home = tmp_path / "shared"
    files = home / "models" / weights.STATE_DIR / "files"
    files.mkdir(parents=True)
    outside = tmp_path / "victim"
    outside.write_bytes(b"precious")
    os.symlink(outside, files / "mobilenet.h5.part")
    (files / "mobilenet.h5.partinfo").write_text(json.dumps({"url": url, "expected": None}))
    final = home / "models" / "pinned.h5"
    os.symlink(outside, final)  # and a symlinked final file
    code = IMPORT_CLI + (
        f"path = weights.fetch_file({url!r}, progress=False)\n"
        f"pinned = weights.fetch_file({fault_server.add('pinned.h5', good)!r}, {md5(good)!r})\n"
        "print('RESULT ' + json.dumps([path, os.path.islink(path), os.path.islink(pinned)]))\n"
    )
    _, (path, link, pinned_link) = run_fresh(code, env={"KERAS_HOME": str(home)})
    assert path == str(home / "models" / "mobilenet.h5") and not link and not pinned_link
    assert open(path, "rb").read() == good and final.read_bytes() == good
    assert outside.read_bytes() == b"precious"
    assert sorted(os.listdir(files)) == ["mobilenet.h5.lock", "pinned.h5.lock"]


def test_a_read_only_bind_mount_serves_and_verifies_in_a_fresh_process(fault_server, tmp_path):
    require_mounts(tmp_path)
    home = tmp_path / "shared_keras"
    models = home / "models"
    tofu, pinned = hdf5_bytes(50_000, seed=1), hdf5_bytes(20_000, seed=2)
    tofu_url = fault_server.add("mobilenet.h5", tofu)
    pinned_url = fault_server.add("pinned.h5", pinned)
    weights.fetch_file(tofu_url, cache_dir=models)
    weights.fetch_file(pinned_url, md5(pinned), cache_dir=models)
    absent_url = fault_server.add("absent.h5", pinned)
    (models / "copied.h5").write_bytes(hdf5_bytes(5_000, seed=3))  # no bookkeeping
    code = IMPORT_CLI + (
        "from keras_applications_bn.weights import WeightsError\n"
        "out = {'dir': weights.default_cache_dir()}\n"
        f"out['copied'] = weights.fetch_file({fault_server.url('copied.h5')!r})\n"
        f"out['tofu'] = weights.fetch_file({tofu_url!r})\n"
        f"out['pinned'] = weights.fetch_file({pinned_url!r}, {md5(pinned)!r})\n"
        "out['verify'] = main(['verify'])\n"
        "out['forget'] = main(['forget', 'mobilenet.h5'])\n"
        "for offline in ('1', ''):\n"
        f"    os.environ[{weights.OFFLINE_ENV!r}] = offline\n"
        "    try:\n"
        f"        weights.fetch_file({absent_url!r})\n"
        "    except WeightsError as e:\n"
        "        out['absent' + offline] = str(e)\n"
        "print('RESULT ' + json.dumps(out))\n"
    )
    mount = f"mount --bind {home} {home}\nmount -o remount,bind,ro {home}\n! touch {home}/probe"
    proc, out = run_fresh(
        code, shell_before=mount, env={"KERAS_HOME": str(home), weights.OFFLINE_ENV: "1"}
    )
    assert out["dir"] == str(models)  # not a temporary directory
    assert out["copied"] == str(models / "copied.h5")  # checked (h5py opens it), not recorded
    assert out["tofu"] == str(models / "mobilenet.h5") and out["pinned"] == str(
        models / "pinned.h5"
    )
    assert out["verify"] == EXIT_OK and "2 cached file(s) checked" in proc.stdout
    assert "0 problem(s)" in proc.stdout
    assert out["forget"] == EXIT_FAILED and "cannot be written" in proc.stderr
    assert f"Expected at {models / 'absent.h5'}" in out["absent1"]
    assert (
        str(models) in out["absent"]
        and "cannot be written (Read-only file system)" in out["absent"]
    )
    assert "Traceback" not in proc.stderr
    assert len(fault_server.requests_for("absent.h5")) == 0


def test_a_full_tmpfs_fails_clearly_and_later_fetches_work_in_a_fresh_process(
    fault_server, tmp_path
):
    require_mounts(tmp_path)
    home = tmp_path / "small_disk"
    models = home / "models"
    models.mkdir(parents=True)
    big, small = hdf5_bytes(400_000, seed=1), hdf5_bytes(50_000, seed=2)
    fault_server.add("big.h5", big)
    fault_server.add("bignolen.h5", big, default=("nolength", len(big)))  # no size announced
    fault_server.add("small.h5", small)
    code = IMPORT_CLI + (
        "for name in ('big', 'bignolen', 'small'):\n"
        "    weights.REGISTRY[name] = weights.WeightFile(name, name + '.h5', None)\n"
        "out = [main(['fetch', name, '-q']) for name in ('big', 'bignolen', 'small')]\n"
        "files = os.path.join(weights.default_cache_dir(), weights.STATE_DIR, 'files')\n"
        "out.append(sorted(os.listdir(weights.default_cache_dir())))\n"
        "out.append(sorted(f for f in os.listdir(files) if not f.endswith('.lock')))\n"
        "print('RESULT ' + json.dumps(out))\n"
    )
    proc, (rc_big, rc_nolen, rc_small, listing, parts) = run_fresh(
        code,
        shell_before=f"mount -t tmpfs -o size=256k tmpfs {models}",
        env={"KERAS_HOME": str(home), weights.MIRROR_ENV: fault_server.base_url},
    )
    assert (rc_big, rc_nolen, rc_small) == (EXIT_FAILED, EXIT_FAILED, EXIT_OK), proc.stderr
    assert (
        f"FAILED  big: Not enough space in {models} for big.h5: it needs 401.4 KB more"
        in proc.stderr
    )
    assert f"FAILED  bignolen: Not enough space in {models} for bignolen.h5" in proc.stderr
    assert "No space left on device" in proc.stderr and "Traceback" not in proc.stderr
    assert listing == [weights.STATE_DIR, "small.h5"] and parts == []
