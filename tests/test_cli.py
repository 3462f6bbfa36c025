"""``python -m keras_applications_bn``: list, fetch, verify, path, forget, exit codes."""

import hashlib
import os
import subprocess
import sys

import pytest

from keras_applications_bn import weights
from keras_applications_bn.__main__ import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main

from conftest import hdf5_bytes, python_env

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
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == EXIT_FAILED, proc.stderr[-2000:]
    assert proc.stdout.strip() == cached("resnet50_weights_tf_dim_ordering_tf_kernels.h5")
    assert "fetch resnet50" in proc.stderr


@pytest.mark.parametrize(
    "variable, value",
    [
        (weights.TIMEOUT_ENV, "inf"),
        (weights.TIMEOUT_ENV, "nan"),
        (weights.TIMEOUT_ENV, "1e300"),
        (weights.OFFLINE_ENV, "enabled"),
        (weights.OFFLINE_ENV, "2"),
        (weights.QUIET_ENV, "2"),
        (weights.RETRIES_ENV, "many"),
    ],
)
def test_a_bad_environment_variable_is_a_one_line_usage_error(
    test_files, fault_server, monkeypatch, capsys, variable, value
):
    monkeypatch.setenv(variable, value)
    assert main(["fetch", "testnet"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and variable in err and repr(value) in err
    assert err.startswith("python -m keras_applications_bn fetch: error: ")
    assert fault_server.log == [] and not os.path.exists(cached("testnet.h5"))


# --------------------------------------------------------------------------- export


def small_model():
    import keras

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, use_bias=False)(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    model.compile(optimizer="adam", loss="mse")
    return model


@pytest.fixture
def saved_model(tmp_path):
    """``finetuned.keras`` (a compiled model) in ``tmp_path``, and its bytes."""
    path = tmp_path / "finetuned.keras"
    small_model().save(path)
    return path, path.read_bytes()


def leftovers(directory):
    return [f for f in os.listdir(directory) if f.startswith(".export-")]


def test_export_never_writes_over_its_input(saved_model, capsys):
    src, original = saved_model
    assert main(["export", str(src), "--to", "keras"]) == EXIT_OK
    assert src.read_bytes() == original  # the optimizer and every flag are still there
    out = src.parent / "finetuned.export.keras"
    assert f"done: {out}" in capsys.readouterr().out and out.is_file()
    # the default name exists now: refused without --overwrite, replaced with it
    before = out.read_bytes()
    assert main(["export", str(src), "--to", "keras"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "exists; pass --overwrite" in err and err.count("\n") == 1
    assert out.read_bytes() == before
    assert main(["export", str(src), "--to", "keras", "--overwrite"]) == EXIT_OK
    assert src.read_bytes() == original and leftovers(src.parent) == []


@pytest.mark.parametrize("how", ["same", "relative", "symlink", "hardlink", "symlinked-dir"])
def test_an_output_that_is_the_input_is_refused(saved_model, monkeypatch, capsys, how):
    src, original = saved_model
    directory = src.parent
    monkeypatch.chdir(directory)
    out = {
        "same": str(src),
        "relative": "./sub/../finetuned.keras",
        "symlink": "link.keras",
        "hardlink": "hard.keras",
        "symlinked-dir": "alias/finetuned.keras",
    }[how]
    (directory / "sub").mkdir()
    os.symlink(src, directory / "link.keras")
    os.link(src, directory / "hard.keras")
    os.symlink(directory, directory / "alias")
    for extra in ([], ["--overwrite"], ["--fold-bn", "--overwrite"]):
        assert main(["export", str(src), "--to", "keras", "-o", out, *extra]) == EXIT_USAGE
        err = capsys.readouterr().err
        assert "is MODEL_FILE itself" in err and "finetuned.export.keras" in err
    assert src.read_bytes() == original and os.path.islink("link.keras")


def test_an_existing_output_is_refused_or_replaced_whole(saved_model, monkeypatch, capsys):
    from keras_applications_bn.export import formats

    src, original = saved_model
    out = src.parent / "model.tflite"
    out.write_bytes(b"an older export")
    assert main(["export", str(src), "--to", "tflite", "-o", str(out)]) == EXIT_USAGE
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert out.read_bytes() == b"an older export"

    def half_written(model, path, fmt):  # the disk fills up mid-write
        with open(path, "wb") as f:
            f.write(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(formats, "export_model", half_written)
    assert (
        main(["export", str(src), "--to", "tflite", "-o", str(out), "--overwrite"]) == EXIT_FAILED
    )
    assert "No space left" in capsys.readouterr().err
    assert out.read_bytes() == b"an older export" and leftovers(src.parent) == []

    def written(model, path, fmt):
        with open(path, "wb") as f:
            f.write(b"new export")

    monkeypatch.setattr(formats, "export_model", written)
    assert main(["export", str(src), "--to", "tflite", "-o", str(out), "--overwrite"]) == EXIT_OK
    assert out.read_bytes() == b"new export" and leftovers(src.parent) == []
    assert src.read_bytes() == original


def test_savedmodel_over_an_existing_path_is_a_clear_error(saved_model, monkeypatch, capsys):
    from keras_applications_bn.export import formats

    src, original = saved_model
    directory = src.parent
    existing = directory / "notes.txt"
    existing.write_text("keep me")
    for extra in ([], ["--overwrite"]):
        assert (
            main(["export", str(src), "--to", "savedmodel", "-o", str(existing), *extra])
            == EXIT_USAGE
        )
    err = capsys.readouterr().err
    assert "exists; pass --overwrite" in err and "is not a SavedModel directory" in err
    assert "Traceback" not in err and existing.read_text() == "keep me"
    # a directory that is not a SavedModel, or that holds MODEL_FILE, is never replaced
    (directory / "project").mkdir()
    (directory / "project" / "code.py").write_text("x = 1")
    assert (
        main(
            [
                "export",
                str(src),
                "--to",
                "savedmodel",
                "-o",
                str(directory / "project"),
                "--overwrite",
            ]
        )
        == EXIT_USAGE
    )
    assert (
        main(["export", str(src), "--to", "savedmodel", "-o", str(directory), "--overwrite"])
        == EXIT_USAGE
    )
    err = capsys.readouterr().err
    assert "not a SavedModel directory" in err and "holds MODEL_FILE" in err
    assert (directory / "project" / "code.py").exists() and src.read_bytes() == original

    def export(model, path, fmt):  # what a SavedModel export leaves: a directory
        os.makedirs(os.path.join(path, "variables"))
        with open(os.path.join(path, "saved_model.pb"), "w") as f:
            f.write(fmt + str(export.calls))
        export.calls += 1

    export.calls = 0
    monkeypatch.setattr(formats, "export_model", export)
    out = directory / "finetuned_savedmodel"
    assert main(["export", str(src), "--to", "savedmodel"]) == EXIT_OK
    assert (out / "saved_model.pb").read_text() == "savedmodel0"
    assert main(["export", str(src), "--to", "savedmodel", "--overwrite"]) == EXIT_OK
    assert (out / "saved_model.pb").read_text() == "savedmodel1" and leftovers(directory) == []


def test_savedmodel_overwrite_replaces_a_real_savedmodel(saved_model, capsys):
    import numpy as np
    import tensorflow as tf

    src, original = saved_model
    out = src.parent / "finetuned_savedmodel"
    assert main(["export", str(src), "--to", "savedmodel"]) == EXIT_OK
    stamp = (out / "saved_model.pb").stat().st_mtime_ns
    assert main(["export", str(src), "--to", "savedmodel"]) == EXIT_USAGE
    assert (
        main(
            [
                "export",
                str(src),
                "--to",
                "savedmodel",
                "--fold-bn",
                "--moving-statistics",
                "-o",
                str(out),
                "--overwrite",
            ]
        )
        == EXIT_OK
    )
    assert (out / "saved_model.pb").stat().st_mtime_ns != stamp and leftovers(src.parent) == []
    x = np.ones((1, 8, 8, 3), "float32")
    assert tf.saved_model.load(str(out)).serve(tf.constant(x)).shape == (1, 2)
    assert src.read_bytes() == original
