"""Fine-tune a pinned model with PyTorch DDP on 2 processes, then re-estimate its BN statistics.

Run ``python examples/scale_out_torch.py`` (it sets ``KERAS_BACKEND=torch`` for its
processes): it starts 2 processes on 127.0.0.1, this same script, with the variables
``torchrun`` sets (``MASTER_ADDR``, ``MASTER_PORT``, ``RANK``, ``WORLD_SIZE``), waits
for them and prints what they report. ``torchrun --nproc-per-node 2
examples/scale_out_torch.py`` starts it the same way (with ``KERAS_BACKEND=torch``
set), and on a cluster ``torchrun`` on every host. On GPUs use the ``nccl`` backend
and one GPU per process, as Keras' multi-GPU guide for PyTorch does; here it is
``gloo`` on the CPU.

Each process follows that guide: the Keras model wrapped in
``torch.nn.parallel.DistributedDataParallel``, a ``DistributedSampler`` giving each
process its share of every global batch, a PyTorch loss and loop. It:

1. builds ``MobileNet(alpha=0.25, inference_bn=True)`` at 32x32 with a new
   2-class head (``weights=None`` here, to run offline, with BN statistics
   estimated on the training images; ``weights="imagenet"`` downloads once per
   process);
2. trains it: DDP averages the gradients over the processes, and
   ``LayerwiseLR(SGD with gradient clipping, {stem: 0, blocks: 0.1})`` applies them (``apply``, the
   step of any Keras optimizer);
3. runs ``adapt_bn_statistics`` on a ``DataLoader`` with a ``DistributedSampler``
   over images of a shifted domain: each layer combines the moments of all
   processes' shares (an all-gather, exact in float64);
4. compares with the same steps on one device, run before the process group starts
   (the adaptation starting from one device's trained weights, so that it is compared
   alone).

What to expect: the loss falls; the pinned BN layers' moving statistics and the
stem (factor 0) do not change; the weights match one device's up to float32
rounding; every process holds the same statistics, those one device gets from the
same global batches. ``--quick`` trains on fewer images for one epoch.
"""

import argparse
import datetime
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


# -- the launcher (what torchrun does, on 127.0.0.1) ------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(argv, processes, timeout=900):
    """Start ``processes`` copies of this script on 127.0.0.1 with torchrun's variables;
    stop them all if one fails or ``timeout`` seconds pass. Their reports."""
    port = str(free_port())
    with tempfile.TemporaryDirectory() as results:
        procs = []
        for rank in range(processes):
            env = dict(os.environ, KERAS_BACKEND="torch", MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
            env.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(processes))
            if sys.platform.startswith("linux"):  # gloo's own connections on the loopback too
                env.setdefault("GLOO_SOCKET_IFNAME", "lo")
            report = os.path.join(results, f"process{rank}.json")
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
        for rank in range(processes):
            with open(os.path.join(results, f"process{rank}.json")) as f:
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


def build(start=None):
    import keras

    import keras_applications_bn as kab

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
    if start is not None:
        model.set_weights(start)
    return model


def train(model, dataset, batch_size, epochs, ddp):
    """The guide's loop (DDP and a DistributedSampler when ``ddp``), LayerwiseLR's step."""
    import keras
    import torch

    import keras_applications_bn as kab

    optimizer = kab.LayerwiseLR(
        keras.optimizers.SGD(1e-2, momentum=0.9, global_clipnorm=1.0), MULTIPLIERS
    )
    optimizer.build(model.trainable_variables)
    sampler = (
        torch.utils.data.distributed.DistributedSampler(dataset, shuffle=False) if ddp else None
    )
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, shuffle=False
    )
    net = torch.nn.parallel.DistributedDataParallel(model) if ddp else model
    loss_fn = torch.nn.CrossEntropyLoss()
    losses = []
    for _ in range(epochs):
        total = []
        for x, y in loader:
            loss = loss_fn(net(x, training=True), y)
            model.zero_grad()
            loss.backward()  # DDP all-reduces (averages) the gradients here
            with torch.no_grad():
                optimizer.apply(
                    [v.value.grad for v in model.trainable_variables], model.trainable_variables
                )
            total.append(float(loss.detach()))
        losses.append(sum(total) / len(total))
    return losses


def run(args):
    """Steps 1-4 in this process; its report."""
    import keras
    import numpy as np
    import torch
    import torch.distributed as dist

    import keras_applications_bn as kab
    from keras_applications_bn import mobilenet

    processes, rank = int(os.environ["WORLD_SIZE"]), int(os.environ["RANK"])
    local_batch = check_batch(args.global_batch, processes)  # torchrun may have started any number
    n, epochs = (64, 1) if args.quick else (256, 3)
    x, y = images(n, seed=1)
    x = mobilenet.preprocess_input(x)
    shifted = mobilenet.preprocess_input(images(n // 2, seed=2, shift=0.5)[0])
    train_set = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))

    # one device, before the process group exists: the reference, and the starting weights
    keras.utils.set_random_seed(0)
    one = build()
    # Offline there are no ImageNet weights: give the random backbone the BN
    # statistics of the training images (a stand-in for pretrained statistics).
    kab.adapt_bn_statistics(one, x, batch_size=args.global_batch, verbose=0)
    start = one.get_weights()
    train(one, train_set, args.global_batch, epochs, ddp=False)
    fitted = [keras.ops.convert_to_numpy(v) for v in one.weights]
    kab.adapt_bn_statistics(one, shifted, batch_size=args.global_batch, verbose=0)

    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=120))  # torchrun's variables
    try:
        model = build(start)
        losses = train(model, train_set, local_batch, epochs, ddp=True)
        pinned = kab.bn_layers(model)
        after = {v.path: keras.ops.convert_to_numpy(v) for v in model.weights}
        moved = {
            v.path: float(np.abs(after[v.path] - w).max()) for v, w in zip(model.weights, start)
        }
        vs_one = max(float(np.abs(after[v.path] - w).max()) for v, w in zip(model.weights, fitted))

        # step 4 compares the adaptation alone: start it from one device's trained
        # weights (training on 2 processes rounds differently, by about 1e-7)
        model.set_weights(fitted)
        sampler = torch.utils.data.distributed.DistributedSampler(
            torch.from_numpy(shifted), shuffle=False
        )
        loader = torch.utils.data.DataLoader(
            torch.from_numpy(shifted), batch_size=local_batch, sampler=sampler
        )
        samples = kab.adapt_bn_statistics(model, loader, verbose=0)

        def variances(m):
            return np.concatenate(
                [
                    keras.ops.convert_to_numpy(layer.moving_variance).ravel()
                    for layer in kab.bn_layers(m)
                ]
            )

        reference = variances(one)
        return {
            "process": rank,
            "processes": dist.get_world_size(),
            "losses": losses,
            "moving_statistics_changed_in_training": max(
                moved[v.path]
                for layer in pinned
                for v in (layer.moving_mean, layer.moving_variance)
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
            "pinned_after_adapt": all(layer.inference_mode for layer in pinned),
        }
    finally:
        dist.destroy_process_group()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer images, one epoch")
    parser.add_argument(
        "--processes", type=int, default=2, help="processes to start on 127.0.0.1 (default 2)"
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

    if "RANK" in os.environ:  # one of the processes (started by the launcher below, or torchrun)
        report = run(args)
        if args.report:
            with open(args.report, "w") as f:
                json.dump(report, f)
        return report

    check_batch(args.global_batch, args.processes)  # before starting anything
    reports = launch(argv, args.processes, args.timeout)
    first = reports[0]
    print(f"\n{len(reports)} processes on 127.0.0.1 (gloo), DistributedDataParallel")
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
    print("same statistics on every process:", len(set(checksums)) == 1)
    return reports


if __name__ == "__main__":
    main()
