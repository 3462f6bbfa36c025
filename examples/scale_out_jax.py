"""Fine-tune a pinned model with keras.distribution on JAX, then re-estimate its BN statistics.

Run ``python examples/scale_out_jax.py`` (it sets ``KERAS_BACKEND=jax`` for its
processes): it starts 2 processes on 127.0.0.1, this same script, each of which
calls ``keras.distribution.initialize`` and trains under ``DataParallel`` over the
devices of both; it waits for them and prints what they report. ``--devices 2``
instead runs one process with 2 CPU devices
(``XLA_FLAGS=--xla_force_host_platform_device_count=2``). On a cluster, start the
script on every host with Keras' variables set (``KERAS_DISTRIBUTION_JOB_ADDRESSES``
= the coordinator's ``host:port``, ``KERAS_DISTRIBUTION_NUM_PROCESSES``,
``KERAS_DISTRIBUTION_PROCESS_ID``).

Each process:

1. builds ``MobileNet(alpha=0.25, inference_bn=True)`` at 32x32 with a new
   2-class head under the distribution (``weights=None`` here, to run offline,
   with BN statistics estimated on the training images;
   ``weights="imagenet"`` downloads once per process);
2. fits it with ``LayerwiseLR(SGD with gradient clipping, {stem: 0, blocks: 0.1})`` on its share of
   each global batch (``batch_size`` in ``fit`` is the per-process batch);
3. runs ``adapt_bn_statistics`` on its share of images of a shifted domain (there
   ``batch_size`` is the global batch): each layer combines the moments of all
   processes' shares;
4. runs the same steps on one device, without a distribution, and compares (the
   adaptation starting from one device's trained weights, so that it is compared alone).

What to expect: the loss falls; the pinned BN layers' moving statistics and the
stem (factor 0) do not change; the weights match one device's up to float32
rounding; every process and device holds the same statistics, those one device
gets from the same global batches. ``--quick`` trains on fewer images for one epoch.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

IMAGE = (32, 32, 3)
# the stem does not train, the backbone's blocks at a tenth of the rate, the new head at the full rate
MULTIPLIERS = {"conv1": 0.0, "conv1_bn": 0.0, "conv_*": 0.1}


def check_batch(global_batch, processes):
    """The per-process batch; a clear error when the processes cannot split the global batch evenly."""
    if processes < 1:
        raise ValueError(f"--processes must be at least 1, got {processes}")
    if global_batch < 1 or global_batch % processes:
        raise ValueError(
            f"--global-batch {global_batch} does not split evenly across {processes} processes: "
            f"pass a multiple of {processes}"
        )
    return global_batch // processes


# -- the launcher ---------------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(argv, processes, timeout=900):
    """Start ``processes`` copies of this script on 127.0.0.1 with Keras' variables;
    stop them all if one fails or ``timeout`` seconds pass. Their reports."""
    address = f"127.0.0.1:{free_port()}"
    with tempfile.TemporaryDirectory() as results:
        procs = []
        for index in range(processes):
            env = dict(os.environ, KERAS_BACKEND="jax")
            env.update(
                KERAS_DISTRIBUTION_JOB_ADDRESSES=address,
                KERAS_DISTRIBUTION_NUM_PROCESSES=str(processes),
                KERAS_DISTRIBUTION_PROCESS_ID=str(index),
            )
            report = os.path.join(results, f"process{index}.json")
            procs.append(
                subprocess.Popen(
                    [sys.executable, os.path.abspath(__file__), *argv, "--report", report], env=env
                )
            )
        deadline = time.monotonic() + timeout
        try:
            while any(p.poll() is None for p in procs):
                if any(p.poll() not in (None, 0) for p in procs) or time.monotonic() > deadline:
                    raise RuntimeError("a process failed or timed out; see its output above")
                time.sleep(0.2)
            if any(p.returncode != 0 for p in procs):
                raise RuntimeError("a process failed; see its output above")
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        reports = []
        for index in range(processes):
            with open(os.path.join(results, f"process{index}.json")) as f:
                reports.append(json.load(f))
    return reports


# -- one process ------------------------------------------------------------------------


def images(n, seed, shift=0.0):
    """Two classes of 32x32 images (class 1 brighter in red, with stripes); ``shift``
    adds a domain change (brightness and contrast) for the adaptation step."""
    import numpy as np

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    x = rng.uniform(0, 120, (n,) + IMAGE)
    x[labels == 1, :, :, 0] += 80
    x[labels == 1, ::4] += 40
    x = x * (1 + shift) + 30 * shift
    return x.astype("float32"), labels


def share(x, index, processes, global_batch):
    """Process ``index``'s share of every global batch of ``x`` (its contiguous part of each)."""
    import numpy as np

    size = global_batch // processes
    return np.concatenate(
        [x[s + index * size : s + (index + 1) * size] for s in range(0, len(x), global_batch)]
    )


def loopback_collectives():
    """JAX's CPU collectives (gloo) listen on the address the host name resolves to;
    on one machine, make them use 127.0.0.1 (a private hook of jaxlib, so optional)."""
    import functools

    try:
        from jax._src.lib import _jax

        if not isinstance(_jax.make_gloo_tcp_collectives, functools.partial):
            _jax.make_gloo_tcp_collectives = functools.partial(
                _jax.make_gloo_tcp_collectives, hostname="127.0.0.1"
            )
    except (ImportError, AttributeError):
        pass


def run(args):
    """Steps 1-4 in this process; its report."""
    multi = "KERAS_DISTRIBUTION_PROCESS_ID" in os.environ
    if multi and os.environ.get("KERAS_DISTRIBUTION_JOB_ADDRESSES", "").startswith("127.0.0.1:"):
        loopback_collectives()
    import keras

    if multi:
        keras.distribution.initialize()  # reads KERAS_DISTRIBUTION_* (or pass them as arguments)
    import jax
    import numpy as np

    import keras_applications_bn as kab
    from keras_applications_bn import mobilenet

    processes, index = jax.process_count(), jax.process_index()
    local_batch = check_batch(args.global_batch, processes)
    # the data is already each process's own share: nothing for Keras to shard
    distribution = keras.distribution.DataParallel(
        devices=jax.devices(), auto_shard_dataset=not multi
    )

    n, epochs = (64, 1) if args.quick else (256, 3)
    x, y = images(n, seed=1)
    x = mobilenet.preprocess_input(x)
    shifted = mobilenet.preprocess_input(images(n // 2, seed=2, shift=0.5)[0])

    def build():
        base = kab.MobileNet(
            weights=None,
            include_top=False,
            pooling="avg",
            alpha=0.25,
            input_shape=IMAGE,
            inference_bn=True,
        )
        inputs = keras.Input(IMAGE)
        model = keras.Model(inputs, keras.layers.Dense(2, name="head")(base(inputs)))
        model.compile(
            kab.LayerwiseLR(
                keras.optimizers.SGD(1e-2, momentum=0.9, global_clipnorm=1.0), MULTIPLIERS
            ),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        return model

    # the one-device run: the reference, and the starting weights of both
    keras.utils.set_random_seed(0)
    one = build()
    # Offline there are no ImageNet weights: give the random backbone the BN
    # statistics of the training images (a stand-in for pretrained statistics).
    kab.adapt_bn_statistics(one, x, batch_size=args.global_batch, verbose=0)
    start = one.get_weights()
    one.fit(x, y, batch_size=args.global_batch, epochs=epochs, shuffle=False, verbose=0)
    fitted = [keras.ops.convert_to_numpy(v) for v in one.weights]
    kab.adapt_bn_statistics(one, shifted, batch_size=args.global_batch, verbose=0)

    with distribution.scope():
        model = build()
        model.set_weights(start)
        mine = (
            share(x, index, processes, args.global_batch),
            share(y, index, processes, args.global_batch),
        )
        if not multi:  # one process: Keras splits each global batch over the devices
            mine, local_batch = (x, y), args.global_batch
        history = model.fit(*mine, batch_size=local_batch, epochs=epochs, shuffle=False, verbose=0)
        pinned = kab.bn_layers(model)
        before = dict(zip([v.path for v in model.weights], start))
        after = {v.path: keras.ops.convert_to_numpy(v) for v in model.weights}
        moved = {path: float(np.abs(after[path] - before[path]).max()) for path in before}
        vs_one = max(float(np.abs(after[v.path] - w).max()) for v, w in zip(model.weights, fitted))
        # step 4 compares the adaptation alone: start it from one device's trained
        # weights (training on 2 devices rounds differently, by about 1e-6)
        model.set_weights(fitted)
        data = share(shifted, index, processes, args.global_batch) if multi else shifted
        samples = kab.adapt_bn_statistics(model, data, batch_size=args.global_batch, verbose=0)

    def variances(m):
        return np.concatenate(
            [
                keras.ops.convert_to_numpy(layer.moving_variance).ravel()
                for layer in kab.bn_layers(m)
            ]
        )

    def devices_agree(m):
        """Whether every device of this process holds the same copy of every statistic."""
        for layer in kab.bn_layers(m):
            for v in (layer.moving_mean, layer.moving_variance):
                first, *others = [np.asarray(shard.data) for shard in v.value.addressable_shards]
                if not all(np.array_equal(first, other) for other in others):
                    return False
        return True

    reference = variances(one)
    return {
        "process": index,
        "processes": processes,
        "devices": len(jax.devices()),
        "losses": [float(v) for v in history.history["loss"]],
        "moving_statistics_changed_in_training": max(
            moved[v.path] for layer in pinned for v in (layer.moving_mean, layer.moving_variance)
        ),
        "stem_changed": max(moved["conv1/kernel"], moved["conv1_bn/gamma"]),
        "first_block_changed": moved["conv_dw_1/kernel"],
        "head_changed": moved["head/kernel"],
        "fit_vs_one_device": vs_one,
        "adapted_samples": samples,
        "adapt_vs_one_device": float(
            np.abs(variances(model) - reference).max() / np.abs(reference).max()
        ),
        "adapted_variance_checksum": float(variances(model).sum()),
        "devices_agree": devices_agree(model),
        "pinned_after_adapt": all(layer.inference_mode for layer in pinned),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer images, one epoch")
    parser.add_argument(
        "--processes", type=int, default=2, help="processes to start on 127.0.0.1 (default 2)"
    )
    parser.add_argument(
        "--devices", type=int, default=0, help="instead: one process with this many CPU devices"
    )
    parser.add_argument(
        "--global-batch", type=int, default=16, help="the global batch (default 16)"
    )
    parser.add_argument(
        "--timeout", type=float, default=900, help="stop every process after this many seconds"
    )
    parser.add_argument("--report", help=argparse.SUPPRESS)  # set by the launcher
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)

    if "KERAS_DISTRIBUTION_PROCESS_ID" in os.environ:  # one of the launched processes
        report = run(args)
        with open(args.report, "w") as f:
            json.dump(report, f)
        return report

    if args.devices:
        check_batch(args.global_batch, args.devices)
        os.environ["KERAS_BACKEND"] = "jax"
        flags = f"--xla_force_host_platform_device_count={args.devices}"
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip()
        reports = [run(args)]
        print(f"\n1 process, {reports[0]['devices']} CPU devices, DataParallel")
    else:
        check_batch(args.global_batch, args.processes)  # before starting anything
        reports = launch(argv, args.processes, args.timeout)
        print(
            f"\n{len(reports)} processes on 127.0.0.1, {reports[0]['devices']} devices, DataParallel"
        )
    first = reports[0]
    print("loss per epoch:", ", ".join(f"{loss:.4f}" for loss in first["losses"]))
    print(
        f"pinned BN moving statistics changed during training: {first['moving_statistics_changed_in_training']:g}"
    )
    print(
        f"stem (factor 0) changed: {first['stem_changed']:g}; first block (0.1): "
        f"{first['first_block_changed']:.2e}; head (1.0): {first['head_changed']:.2e}"
    )
    print(
        f"LayerwiseLR vs one device: largest weight difference {max(r['fit_vs_one_device'] for r in reports):.1e} "
        f"(the head moved {first['head_changed']:.1e})"
    )
    checksums = [r["adapted_variance_checksum"] for r in reports]
    print(
        f"adapt_bn_statistics: {first['adapted_samples']} samples; vs one device "
        f"{max(r['adapt_vs_one_device'] for r in reports):.1e} (relative); variance checksum per process: "
        + ", ".join(f"{c:.9g}" for c in checksums)
    )
    print(
        "same statistics on every process and device:",
        len(set(checksums)) == 1 and all(r["devices_agree"] for r in reports),
    )
    return reports


if __name__ == "__main__":
    main()
