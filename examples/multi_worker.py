"""Fine-tune a pinned model with MultiWorkerMirroredStrategy, then re-estimate its BN statistics.

Run ``python examples/multi_worker.py``: without ``TF_CONFIG`` it starts two
workers on 127.0.0.1 (this same script, each with its own ``TF_CONFIG``), waits
for them and prints what they report. On a real cluster, start the script on
every host with that host's ``TF_CONFIG`` instead (``{"cluster": {"worker":
["host1:port", "host2:port"]}, "task": {"type": "worker", "index": i}}``).

Each worker:

1. builds ``MobileNet(alpha=0.25, inference_bn=True)`` at 32x32 with a new
   2-class head under ``strategy.scope()`` (``weights=None`` here, to run
   offline, with BN statistics estimated on the training images;
   ``weights="imagenet"`` downloads once per worker process);
2. trains it with ``LayerwiseLR(Adam, {stem: 0, first block: 0.1})`` on its
   shard of each global batch (gradients are all-reduced across workers);
3. runs ``adapt_bn_statistics`` over images of a shifted domain: each global
   batch is split across the workers and the moments are all-reduced exactly.

What to expect: the loss falls; the pinned BN layers' moving statistics and the
stem (factor 0) do not change during training; after ``adapt_bn_statistics``
both workers hold the same statistics — the ones one device gets from the same
global batches. The training uses a custom loop (``strategy.run`` +
``apply_gradients``): with Keras 3.15 and TensorFlow 2.21, ``model.fit`` under
MultiWorkerMirroredStrategy fails before its first step inside Keras
(MirroredStrategy's ``fit`` works).

``--quick`` trains on fewer images for one epoch (about a minute on 2 CPU cores).
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

IMAGE = (32, 32, 3)
GLOBAL_BATCH = 16
MULTIPLIERS = {"conv1": 0.0, "conv1_bn": 0.0, "conv_dw_1*": 0.1, "conv_pw_1*": 0.1}


# -- the launcher (no TF_CONFIG) ------------------------------------------------------


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def launch(argv, workers=2, timeout=600):
    """Start ``workers`` copies of this script on 127.0.0.1, each with its TF_CONFIG;
    stop them all if one fails or ``timeout`` seconds pass. Their reports."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(workers)]}
    with tempfile.TemporaryDirectory() as results:
        procs = []
        for index in range(workers):
            env = dict(os.environ)
            env["TF_CONFIG"] = json.dumps(
                {"cluster": cluster, "task": {"type": "worker", "index": index}}
            )
            report = os.path.join(results, f"worker{index}.json")
            procs.append(
                subprocess.Popen(
                    [sys.executable, os.path.abspath(__file__), *argv, "--report", report], env=env
                )
            )
        deadline = time.monotonic() + timeout
        try:
            while any(p.poll() is None for p in procs):
                if any(p.poll() not in (None, 0) for p in procs) or time.monotonic() > deadline:
                    raise RuntimeError("a worker failed or timed out; see its output above")
                time.sleep(0.2)
            if any(p.returncode != 0 for p in procs):
                raise RuntimeError("a worker failed; see its output above")
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        reports = []
        for index in range(workers):
            with open(os.path.join(results, f"worker{index}.json")) as f:
                reports.append(json.load(f))
    return reports


# -- one worker (TF_CONFIG set) ----------------------------------------------------------


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


def worker(args):
    import numpy as np
    import tensorflow as tf

    # first, before TensorFlow's runtime starts
    strategy = tf.distribute.MultiWorkerMirroredStrategy()

    import keras

    import keras_applications_bn as kab
    from keras_applications_bn import mobilenet

    task = strategy.cluster_resolver.task_id
    keras.utils.set_random_seed(0)  # the same initial head on every worker
    with strategy.scope():
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
        optimizer = kab.LayerwiseLR(keras.optimizers.Adam(1e-3), MULTIPLIERS)
    pinned = kab.bn_layers(model)

    n, epochs = (128, 1) if args.quick else (512, 3)
    x, y = images(n, seed=1)
    x = mobilenet.preprocess_input(x)
    # Offline there are no ImageNet weights: give the random backbone the BN
    # statistics of the training images (a stand-in for pretrained statistics;
    # without them a random deep net's pinned activations fade towards zero).
    with strategy.scope():
        kab.adapt_bn_statistics(model, x, batch_size=GLOBAL_BATCH, verbose=0)
    before = {v.path: np.asarray(v.numpy()).copy() for v in model.weights}
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(GLOBAL_BATCH).with_options(options)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")

    def replica_step(images, labels):
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(images, training=True)) / GLOBAL_BATCH
        gradients = tape.gradient(loss, model.trainable_weights)
        optimizer.apply_gradients(zip(gradients, model.trainable_weights))
        return loss

    @tf.function
    def train_step(batch):
        losses = strategy.run(replica_step, args=batch)
        return strategy.reduce("SUM", losses, axis=None)

    losses = []
    for epoch in range(epochs):
        total = [
            float(train_step(batch)) for batch in strategy.experimental_distribute_dataset(dataset)
        ]
        losses.append(sum(total) / len(total))
        print(f"worker {task}: epoch {epoch + 1} loss {losses[-1]:.4f}", flush=True)

    after = {v.path: np.asarray(v.numpy()) for v in model.weights}
    moved = {path: float(np.abs(after[path] - before[path]).max()) for path in before}
    moving = max(
        moved[v.path] for layer in pinned for v in (layer.moving_mean, layer.moving_variance)
    )

    shifted = mobilenet.preprocess_input(images(n // 2, seed=2, shift=0.5)[0])
    with strategy.scope():
        samples = kab.adapt_bn_statistics(model, shifted, batch_size=GLOBAL_BATCH, verbose=0)
    statistics = np.concatenate(
        [np.asarray(layer.moving_variance.numpy()).ravel() for layer in pinned]
    )
    report = {
        "worker": task,
        "replicas": strategy.num_replicas_in_sync,
        "losses": losses,
        "moving_statistics_changed_in_training": moving,
        "stem_changed": max(moved["conv1/kernel"], moved["conv1_bn/gamma"]),
        "first_block_changed": moved["conv_dw_1/kernel"],
        "head_changed": moved["head/kernel"],
        "adapted_samples": samples,
        "adapted_variance_checksum": float(statistics.sum()),
        "pinned_after_adapt": all(layer.inference_mode for layer in pinned),
    }
    with open(args.report, "w") as f:
        json.dump(report, f)
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer images, one epoch")
    parser.add_argument("--report", help=argparse.SUPPRESS)  # set by the launcher
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    if os.environ.get("TF_CONFIG"):
        return worker(args)

    reports = launch([a for a in argv if a != "--report"])
    first = reports[0]
    print(f"\n{len(reports)} workers, {first['replicas']} replicas in sync")
    print("loss per epoch:", ", ".join(f"{loss:.4f}" for loss in first["losses"]))
    print(
        f"pinned BN moving statistics changed during training: {first['moving_statistics_changed_in_training']:g}"
    )
    print(
        f"stem (factor 0) changed: {first['stem_changed']:g}; first block (0.1): "
        f"{first['first_block_changed']:.2e}; head (1.0): {first['head_changed']:.2e}"
    )
    checksums = [r["adapted_variance_checksum"] for r in reports]
    print(
        f"adapt_bn_statistics: {first['adapted_samples']} samples; variance checksum per worker: "
        + ", ".join(f"{c:.9g}" for c in checksums)
    )
    print("same statistics on every worker:", len(set(checksums)) == 1)
    return reports


if __name__ == "__main__":
    main()
