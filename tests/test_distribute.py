"""tf.distribute: models build under MirroredStrategy (weights loaded once per host),
inference_bn holds and LayerwiseLR is exact in a distributed fit, and
adapt_bn_statistics gives the one-device statistics with 2 replicas and with 2
workers.

Each scenario runs in a fresh process (tests/distribute_scenarios.py) that splits
the CPU into logical devices first; the multi-worker test starts two worker
processes on 127.0.0.1, each with its own TF_CONFIG.
"""

import hashlib
import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_applications_bn import weights as weights_lib

from architectures import CONTRACT, save_official_layout
from conftest import REPO_ROOT, free_ports, python_env, run_together

pytestmark = [
    pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.distribute"),
    pytest.mark.slow,  # fresh processes, several workers: the slow lane
]

SCENARIOS = REPO_ROOT / "tests" / "distribute_scenarios.py"


def scenario_command(name, **args):
    return [sys.executable, str(SCENARIOS), name, json.dumps(args)]


def run_scenario(name, timeout, env=None, **args):
    """Run one scenario in a fresh process; fail with its output if it fails; its result."""
    full_env = python_env()
    full_env.update(env or {})
    proc = subprocess.run(
        scenario_command(name, **args),
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"{name} failed ({proc.returncode})\n{proc.stdout}\n--- stderr\n{proc.stderr[-5000:]}"
        )
    print(proc.stdout)
    with open(args["out"]) as f:
        return json.load(f)


def official_layout_file(arch, directory, seed):
    """A headless keras.applications model with distinctive weights, saved in the
    official layout, and its weights in order (what every replica must hold)."""
    rng = np.random.default_rng(seed)
    keras.backend.clear_session()
    reference = arch.keras(weights=None, include_top=False, input_shape=arch.shape)
    for variable in reference.weights:
        variable.assign(rng.uniform(0.5, 1.5, variable.shape).astype(variable.dtype))
    path = save_official_layout(reference, directory / f"{arch.id}.h5")
    np.savez(directory / f"{arch.id}.npz", *[np.asarray(v.numpy()) for v in reference.weights])
    return path


def test_every_model_builds_under_mirrored_strategy_and_imagenet_weights_load_once_per_host(
    tmp_path, http_server, isolated_keras_home
):
    """Every contract architecture (tests/architectures.py, so new families join) is
    built under a 2-replica MirroredStrategy with weights=<path>: every replica holds
    the file's weights and the BN layers are pinned. weights="imagenet" through the
    loopback mirror is downloaded once, not once per replica."""
    for seed, arch in enumerate(CONTRACT):
        official_layout_file(arch, tmp_path, seed)
    arch = CONTRACT[0]
    key = f"{arch.module}_notop"
    entry = weights_lib.get(key)
    local = tmp_path / f"{arch.id}.h5"
    http_server.put(entry.path, local.read_bytes())

    result = run_scenario(
        "build_all",
        timeout=240,
        env={
            "KERAS_APPLICATIONS_BN_MIRROR": http_server.base_url,
            "KERAS_HOME": str(isolated_keras_home),
        },
        dir=str(tmp_path),
        imagenet_arch=arch.id,
        imagenet_key=key,
        sha256=hashlib.sha256(local.read_bytes()).hexdigest(),
        out=str(tmp_path / "out.json"),
    )
    assert result["built"] == [a.id for a in CONTRACT]
    assert http_server.requests == ["/" + entry.path]
    assert (isolated_keras_home / "models" / entry.fname).is_file()


def test_one_vs_two_replicas_layerwise_lr_fit_and_adapt_bn_statistics_agree(tmp_path):
    """MirroredStrategy with 2 replicas vs one device, the same global batches:
    LayerwiseLR fits (SGD+momentum on a pinned MobileNet, Adam on a small pinned
    net) give the same weights, pinned statistics stay unchanged on every replica
    and replicas agree (checked in the scenario); adapt_bn_statistics gives the
    same statistics from NumPy input, a dataset distributed by the user, and a
    labelled tf.data dataset outside the scope."""
    result = run_scenario("mirrored", timeout=400, out=str(tmp_path / "out.json"))
    for kind, fit in result["fit"].items():
        assert fit["pinned_layers"] > 0, kind
        moved = fit["moved"]
        # multiplier 0: untouched; 0.1 and 0.3: trained; moving statistics: pinned
        assert moved["conv1/kernel"] == 0.0 and moved["conv1_bn/gamma"] == 0.0, (kind, moved)
        assert moved["conv_dw_1/kernel"] > 0 and moved["conv_pw_1/kernel"] > 0, (kind, moved)
        assert moved["head/kernel"] > 0, (kind, moved)
        assert all(v == 0.0 for p, v in moved.items() if "moving" in p), (kind, moved)
        scale = max(moved.values())
        worst = max(fit["vs_one_device"].items(), key=lambda item: item[1])
        assert worst[1] <= 1e-4 * scale + 1e-7, (kind, worst, scale)
    for source, difference in result["adapt"].items():
        assert difference <= 1e-5, (source, difference)


def run_workers(name, tmp_path, timeout, **args):
    """Start 2 MultiWorkerMirroredStrategy workers together, each with its TF_CONFIG;
    kill both as soon as one fails or the time is up. The JSON each wrote."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    commands = [
        (
            scenario_command(name, out=str(tmp_path / f"worker{index}.json"), **args),
            {
                "TF_CONFIG": json.dumps(
                    {"cluster": cluster, "task": {"type": "worker", "index": index}}
                )
            },
        )
        for index in range(2)
    ]
    run_together(commands, tmp_path, timeout=timeout, what="worker")
    results = []
    for index in range(2):
        with open(tmp_path / f"worker{index}.json") as f:
            results.append(json.load(f))
    return results


def test_two_workers_layerwise_lr_fit_and_adapt_bn_statistics_match_one_device(tmp_path):
    """MultiWorkerMirroredStrategy, 2 workers on 127.0.0.1: a LayerwiseLR(Adam) fit of a
    pinned net and adapt_bn_statistics (17 samples in global batches of 8, each split
    across the workers) give what one device gives, on both workers."""
    results = run_workers("worker", tmp_path, timeout=300)
    for index, result in enumerate(results):
        assert result["adapt_vs_one_device"] <= 1e-5, (index, result)
        assert max(result["fit_vs_one_device"].values()) <= 1e-6, (index, result)
        moved = result["moved"]
        assert moved["conv1/kernel"] == 0.0 and moved["conv_dw_1/kernel"] > 0, (index, moved)
        assert all(v == 0.0 for p, v in moved.items() if "moving" in p), (index, moved)
    first, second = (np.load(tmp_path / f"worker{i}.json.npz") for i in range(2))
    for key in first.files:
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)


def test_keras_fit_under_multi_worker_strategy_still_fails_as_the_docs_show(tmp_path):
    """docs/scaling-out-tensorflow.md shows a minimal reproduction of Keras' `fit`
    failing under MultiWorkerMirroredStrategy (why the workers train with a custom
    loop). Its script, run on 2 workers, must still fail that way; when a Keras
    release fixes it, this fails: update the page, examples/multi_worker.py and the
    worker scenario."""
    page = (REPO_ROOT / "docs" / "scaling-out-tensorflow.md").read_text(encoding="utf-8")
    section = page[page.index("## `model.fit` under MultiWorkerMirroredStrategy fails in Keras") :]
    script = tmp_path / "mwms_fit.py"
    script.write_text(section.split("```python\n", 1)[1].split("```", 1)[0])
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    procs = []
    for index in range(2):
        env = python_env()
        env["TF_CONFIG"] = json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}
        )
        procs.append(
            subprocess.Popen(
                [sys.executable, str(script)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=240)[0])
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, output in zip(procs, outputs):
        assert "fit ran" not in output, (
            "Keras' fit now works under MultiWorkerMirroredStrategy: update the docs"
        )
        assert proc.returncode != 0, output[-3000:]
        assert "ValueError: Attempt to convert a value (PerReplica:" in output, output[-3000:]
