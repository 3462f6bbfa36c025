"""``python -m keras_applications_bn``: list, fetch, verify, path, forget, exit codes."""

import hashlib
import os
import subprocess
import sys

import pytest

from conftest import hdf5_bytes, python_env
from keras_applications_bn import weights
from keras_applications_bn.__main__ import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main

DATA = hdf5_bytes(160_000)  # an HDF5 file: testnet_notop has no pinned hash


@pytest.fixture
def test_files(fault_server, monkeypatch):
    """Two extra registry files served by the fault server as the mirror."""
    entries = {
        "testnet": weights.WeightFile(
            "testnet", "test/testnet.h5", hashlib.md5(DATA).hexdigest(), "TestNet", True
        ),
        "testnet_notop": weights.WeightFile(
            "testnet_notop", "test/testnet_notop.h5", None, "TestNet", False
        ),
    }
    for name, entry in entries.items():
        monkeypatch.setitem(weights.REGISTRY, name, entry)
        fault_server.add(entry.path, DATA)
    monkeypatch.setenv(weights.MIRROR_ENV, fault_server.base_url)
    return entries


def cached(fname):
    return os.path.join(weights.default_cache_dir(), fname)


@pytest.mark.compat
def test_list_shows_every_registry_file_offline(test_files, capsys, monkeypatch):
    monkeypatch.setenv(weights.OFFLINE_ENV, "1")
    with open(cached("testnet.h5"), "wb") as f:
        f.write(DATA)
    assert main(["list"]) == EXIT_OK
    out = capsys.readouterr().out
    lines = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert set(weights.REGISTRY) <= set(lines)
    assert lines["testnet"][1:] == ["TestNet", "top", "md5", "pinned", "yes", "161.4", "KB"]
    assert lines["testnet_notop"][1:] == ["TestNet", "notop", "first-use", "no", "-"]
    assert f"{len(weights.REGISTRY)} file(s), 1 cached" in out
    assert main(["list", "--cached"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "testnet " in out and "resnet50" not in out


@pytest.mark.compat
def test_fetch_by_model_name_then_verify_and_path(test_files, fault_server, capsys):
    assert main(["fetch", "TestNet", "--quiet"]) == EXIT_OK
    out = capsys.readouterr().out
    assert f"ok      testnet  {cached('testnet.h5')}" in out
    assert open(cached("testnet_notop.h5"), "rb").read() == DATA
    assert len(fault_server.log) == 2

    assert main(["verify"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "OK       testnet  md5 pinned" in out
    assert "OK       testnet_notop  sha256 trusted on first use" in out
    assert "2 cached file(s) checked: 1 pinned, 1 trusted on first use; 0 problem(s)." in out

    assert main(["path", "testnet_notop"]) == EXIT_OK
    assert capsys.readouterr().out.strip() == cached("testnet_notop.h5")

    with open(cached("testnet.h5"), "r+b") as f:
        f.write(b"corrupt")
    assert main(["verify"]) == EXIT_FAILED
    out = capsys.readouterr().out
    assert "CORRUPT  testnet" in out and "fetch testnet" in out
    assert main(["fetch", "testnet", "-q"]) == EXIT_OK  # replaces it
    assert main(["verify", "testnet"]) == EXIT_OK
    assert open(cached("testnet.h5"), "rb").read() == DATA


@pytest.mark.compat
def test_fetch_failure_and_usage_errors_have_distinct_exit_codes(test_files, fault_server, capsys):
    fault_server.add("test/testnet.h5", DATA, faults=[("wrong", None)])
    assert main(["fetch", "testnet", "testnet_notop", "-q"]) == EXIT_FAILED
    captured = capsys.readouterr()
    assert "FAILED  testnet: Hash mismatch" in captured.err
    assert "1 of 2 file(s) failed: testnet" in captured.err
    assert "ok      testnet_notop" in captured.out
    assert not os.path.exists(cached("testnet.h5"))

    assert main(["fetch", "no_such_model"]) == EXIT_USAGE
    assert "Unknown weight file name='no_such_model'" in capsys.readouterr().err
    assert main(["fetch"]) == EXIT_USAGE
    assert "--all" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == EXIT_USAGE
    assert main(["path", "testnet"]) == EXIT_FAILED
    assert "not cached" in capsys.readouterr().err
    assert main(["verify", "testnet"]) == EXIT_FAILED
    assert "MISSING  testnet" in capsys.readouterr().out


def test_fetch_all_offline_reports_every_missing_file(monkeypatch, capsys):
    monkeypatch.setenv(weights.OFFLINE_ENV, "1")
    assert main(["fetch", "--all"]) == EXIT_FAILED
    err = capsys.readouterr().err
    assert f"{len(weights.REGISTRY)} of {len(weights.REGISTRY)} file(s) failed" in err
    assert os.listdir(weights.default_cache_dir()) in ([], [weights.STATE_DIR])


@pytest.mark.compat
def test_forget_drops_the_trust_record(test_files, fault_server, capsys):
    assert main(["fetch", "testnet_notop", "-q"]) == EXIT_OK
    fault_server.add("test/testnet_notop.h5", hdf5_bytes(160_000, seed=1))  # upstream changed
    assert main(["forget", "testnet_notop"]) == EXIT_OK
    assert "forgot  testnet_notop" in capsys.readouterr().out
    assert not os.path.exists(cached("testnet_notop.h5"))
    assert main(["fetch", "testnet_notop", "-q"]) == EXIT_OK
    assert open(cached("testnet_notop.h5"), "rb").read() == hdf5_bytes(160_000, seed=1)


def test_help_reads_well(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == EXIT_OK
    out = capsys.readouterr().out
    for word in ("list", "fetch", "verify", "path", "forget", "exit codes:", "KERAS_HOME"):
        assert word in out
    for var in (weights.MIRROR_ENV, weights.OFFLINE_ENV, weights.TIMEOUT_ENV, weights.RETRIES_ENV):
        assert var in out
    for command in ("list", "fetch", "verify", "path", "forget"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "exit codes:" in capsys.readouterr().out


@pytest.mark.compat
@pytest.mark.slow  # a fresh process importing TensorFlow; main() itself is tested above
def test_module_entry_point_exit_code():
    """The real ``python -m`` entry point (one subprocess: it imports TensorFlow)."""
    proc = subprocess.run(
        [sys.executable, "-m", "keras_applications_bn", "path", "resnet50"],
        env=python_env(), capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == EXIT_FAILED, proc.stderr[-2000:]
    assert proc.stdout.strip() == cached("resnet50_weights_tf_dim_ordering_tf_kernels.h5")
    assert "fetch resnet50" in proc.stderr
