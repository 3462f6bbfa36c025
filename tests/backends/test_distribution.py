"""Scaling out on JAX (``keras.distribution``) and PyTorch (``torch.distributed``).

JAX: DataParallel and a ModelParallel layout map over 2 CPU devices of one process
(``XLA_FLAGS=--xla_force_host_platform_device_count=2``), and DataParallel over 2
processes (``keras.distribution.initialize`` on 127.0.0.1). PyTorch: 2 processes
(gloo on 127.0.0.1) training with DistributedDataParallel as Keras' multi-GPU guide
for PyTorch does. In each: weights load once per process and every device holds
them, pinned BN statistics stay unchanged and identical everywhere, a LayerwiseLR
step gives the one-device weights, and adapt_bn_statistics gives the one-device
statistics (float64 models); bad input is refused on every process at once.

Every scenario runs in fresh processes (tests/backends/distribution_scenarios.py)
that the test starts and stops: all are killed as soon as one fails or after
``TIMEOUT`` seconds, so a collective that never completes fails the test instead
of hanging the stage. Processes talk on 127.0.0.1 only.
"""

import json
import os
import sys

import keras
import numpy as np
import pytest

from keras_applications_bn.weights import registry

from architectures import save_official_layout
from conftest import REPO_ROOT, free_ports, run_python, run_together

BACKEND = keras.backend.backend()
SCENARIOS = REPO_ROOT / "tests" / "backends" / "distribution_scenarios.py"
PROCESSES = 2
TIMEOUT = 300  # seconds for a whole scenario (measured: 40-110 s on 2 busy cores)

jax_only = pytest.mark.skipif(
    BACKEND != "jax", reason="keras.distribution on JAX: the stage's KERAS_BACKEND=jax run runs it"
)
torch_only = pytest.mark.skipif(
    BACKEND != "torch",
    reason="torch.distributed (DDP): the stage's KERAS_BACKEND=torch run runs it",
)


def run_processes(name, tmp_path, envs, timeout=TIMEOUT, **args):
    """Start one scenario process per item of ``envs`` (extra environment for each;
    each gets ``index``), together; kill them all as soon as one fails or the time
    is up. The JSON each wrote."""
    commands = []
    for index, extra in enumerate(envs):
        out = str(tmp_path / f"{name}{index}.json")
        argv = [
            sys.executable,
            str(SCENARIOS),
            name,
            json.dumps({**args, "index": index, "out": out}),
        ]
        commands.append((argv, extra))
    run_together(commands, tmp_path, timeout=timeout)
    results = []
    for index in range(len(envs)):
        with open(tmp_path / f"{name}{index}.json") as f:
            results.append(json.load(f))
    return results


@pytest.fixture
def imagenet_mirror(tmp_path, http_server):
    """MobileNet's (alpha 0.25) ImageNet file, made from keras.applications' model
    with distinctive weights, served by a loopback mirror; its weights in a .npz."""
    entry = registry.lookup("MobileNet", include_top=False, alpha=0.25, rows=224)
    reference = keras.applications.MobileNet(
        weights=None, include_top=False, alpha=0.25, input_shape=(32, 32, 3)
    )
    rng = np.random.default_rng(11)
    for variable in reference.weights:
        variable.assign(rng.uniform(0.5, 1.5, variable.shape).astype("float32"))
    path = save_official_layout(reference, tmp_path / "mobilenet.h5")
    http_server.put(entry.path, path.read_bytes())
    npz = tmp_path / "mobilenet.npz"
    np.savez(npz, *[keras.ops.convert_to_numpy(v) for v in reference.weights])
    return http_server, entry, str(npz)


def process_envs(tmp_path, mirror, n, **extra):
    """Each process's environment: the mirror, its own Keras cache, ``extra``."""
    envs = []
    for index in range(n):
        home = tmp_path / f"keras_home{index}"
        home.mkdir()
        envs.append(
            {"KERAS_HOME": str(home), "KERAS_APPLICATIONS_BN_MIRROR": mirror.base_url, **extra}
        )
    return envs


def check_fit(fit, what):
    """The LayerwiseLR step moved what it should and matches one device."""
    moved = fit["moved"]
    print(
        f"{what}: LayerwiseLR vs one device {max(fit['vs_one_device'].values()):.1e} (moves up to {max(moved.values()):.1e})"
    )
    # factor 0: untouched; 0.1, 0.3 and 1: trained; moving statistics: pinned
    assert moved["conv1/kernel"] == 0.0 and moved["conv1_bn/gamma"] == 0.0, (what, moved)
    assert (
        moved["block1/kernel"] > 0 and moved["block2_bn/gamma"] > 0 and moved["head/kernel"] > 0
    ), (what, moved)
    assert all(v == 0.0 for path, v in moved.items() if "moving" in path), (what, moved)
    scale = max(moved.values())
    worst = max(fit["vs_one_device"].items(), key=lambda item: item[1])
    # float32 rounding of sums taken in another order (gradients reduced across
    # devices or processes); a wrong factor or a lost step is off by ~scale
    assert worst[1] <= 1e-4 * scale + 1e-7, (what, worst, scale)


def check_refusals(errors, index):
    if "split" in errors:  # JAX: a weight split over both processes' devices
        assert "block2/kernel" in errors["split"] and "split across processes" in errors["split"], (
            errors
        )
    assert "batch_size" in errors["batch_size"] and "divisible by 2" in errors["batch_size"], errors
    assert (
        errors["batches"].startswith("ValueError")
        and "different numbers of batches" in errors["batches"]
    ), errors
    if index == 1:  # its own errors
        assert errors["shape"].startswith("ValueError") and "shaped" in errors["shape"], errors
        assert errors["failure"].startswith("OSError") and "pipeline broke" in errors["failure"], (
            errors
        )
    else:  # told that process 1 failed, instead of waiting for it
        assert errors["shape"].startswith("RuntimeError") and "[1]" in errors["shape"], errors
        assert errors["failure"].startswith("RuntimeError") and "[1]" in errors["failure"], errors


def check_processes(results, tmp_path, name):
    """Every process fitted and adapted as one device does, and they agree exactly."""
    for index, result in enumerate(results):
        assert result["index"] == index and result["processes"] == PROCESSES, result
        check_fit(result["fit"], f"process {index}")
        adapt = result["adapt"]
        print(f"process {index}: adapt_bn_statistics vs one device {adapt}")
        assert adapt["samples"] == 20, adapt  # the global count, on every process
        # float64 models: combining the processes' moments is exact up to rounding
        assert max(v for k, v in adapt.items() if k != "samples") <= 1e-10, adapt
        check_refusals(result["errors"], index)
    first, second = (np.load(tmp_path / f"{name}{i}.json.npz") for i in range(PROCESSES))
    assert len(first.files) > 0
    for key in first.files:  # the same weights and statistics on every process, bit for bit
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)


@jax_only
def test_jax_data_parallel_and_model_parallel_on_two_devices_match_one_device(
    tmp_path, imagenet_mirror
):
    """One process, 2 CPU devices: DataParallel and ModelParallel (conv and Dense
    kernels split by a layout map) against one device."""
    server, entry, npz = imagenet_mirror
    env = process_envs(
        tmp_path,
        server,
        1,
        XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=2".strip(),
        JAX_ENABLE_X64="1",
    )
    (result,) = run_processes("jax_devices", tmp_path, env, weights_npz=npz)
    assert server.requests == ["/" + entry.path]  # one download for the process, not one per device
    assert result["devices"] == 2
    for name, fit in result["fit"].items():
        check_fit(fit, name)
    assert result["fit"]["DataParallel"]["split_weights"] == []
    assert sorted(result["fit"]["ModelParallel"]["split_weights"]) == [
        "block1/kernel",
        "block2/kernel",
        "conv1/kernel",
        "head/kernel",
    ]
    print(f"adapt_bn_statistics vs one device: {result['adapt']}")
    for name, difference in result["adapt"].items():
        assert difference <= 1e-10, (name, difference)


@jax_only
def test_jax_data_parallel_across_two_processes_matches_one_device(tmp_path, imagenet_mirror):
    """2 processes on 127.0.0.1 (keras.distribution.initialize), one CPU device each."""
    server, entry, npz = imagenet_mirror
    envs = process_envs(tmp_path, server, PROCESSES, JAX_ENABLE_X64="1")
    results = run_processes(
        "jax_process", tmp_path, envs, processes=PROCESSES, port=free_ports()[0], weights_npz=npz
    )
    assert server.requests == ["/" + entry.path] * PROCESSES  # once per process
    assert all("split" in result["errors"] for result in results)
    check_processes(results, tmp_path, "jax_process")


@torch_only
def test_torch_distributed_data_parallel_across_two_processes_matches_one_device(
    tmp_path, imagenet_mirror
):
    """2 processes on 127.0.0.1 (gloo), DistributedDataParallel and DistributedSampler."""
    server, entry, npz = imagenet_mirror
    envs = process_envs(tmp_path, server, PROCESSES, GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1")
    results = run_processes(
        "torch_process", tmp_path, envs, processes=PROCESSES, port=free_ports()[0], weights_npz=npz
    )
    assert server.requests == ["/" + entry.path] * PROCESSES  # once per process
    check_processes(results, tmp_path, "torch_process")


# ---------------------------------------------------------------------------
# the examples of docs/scaling-out-jax.md and docs/scaling-out-pytorch.md
# ---------------------------------------------------------------------------


def run_example(module, checks, timeout=300):
    """``examples/<module>.py --quick`` (2 processes on 127.0.0.1, which its launcher
    stops after ``timeout`` seconds), after checking that it refuses a global batch
    the processes cannot split and a process count below 1 before starting any."""
    code = f"""
import sys
sys.path.insert(0, {str(REPO_ROOT / "examples")!r})
import {module} as example
for bad, message in ((["--global-batch", "15"], "does not split evenly across 2 processes"),
                     (["--processes", "0"], "at least 1")):
    try:
        example.main(["--quick", *bad])
    except ValueError as error:
        assert message in str(error), error
    else:
        raise AssertionError(bad)
result = example.main(["--quick", "--timeout", "{timeout}"])
assert [r["process"] for r in result] == [0, 1] and result[0]["processes"] == 2, result
for r in result:
    assert r["moving_statistics_changed_in_training"] == 0.0 and r["stem_changed"] == 0.0, r
    assert r["first_block_changed"] > 0 and r["head_changed"] > 0, r
    # float32 rounding: gradients summed across devices/processes in another order
    # (measured 3e-8 to 1.6e-6 from run to run); a process that trained on its
    # share alone would differ by about the weights' moves (1e-4 to 1e-3)
    assert r["fit_vs_one_device"] <= min(1e-5, r["first_block_changed"] / 50), r
    # adaptation from the same weights (the example sets one device's): the
    # moments are combined exactly, what is left is the float32 forward pass on
    # other batch sizes (measured 4e-6 on JAX, 9e-6 on PyTorch); statistics of one
    # process's share alone would differ by 10-30%
    assert r["adapt_vs_one_device"] <= 1e-4, r
    assert r["adapted_samples"] == 32 and r["pinned_after_adapt"], r
assert len({{r["adapted_variance_checksum"] for r in result}}) == 1, result
{checks}
print("checks ok")
"""
    return run_python(code, cwd=str(REPO_ROOT), timeout=timeout + 60)


@jax_only
def test_jax_example_two_processes_match_one_device():
    proc = run_example(
        "scale_out_jax",
        'assert all(r["devices"] == 2 and r["devices_agree"] for r in result), result',
    )
    assert "same statistics on every process and device: True" in proc.stdout


@torch_only
def test_torch_example_two_processes_match_one_device():
    proc = run_example("scale_out_torch", "")
    assert "same statistics on every process: True" in proc.stdout
