"""6. BN folding: ``predict`` throughput of the folded pinned model.

For ResNet50, MobileNetV2 and EfficientNetB0 (headless, average pooling, the same
weights everywhere) three models are timed round-robin, warm, in one run:

- the pinned model (``inference_bn=True``),
- its :func:`~keras_applications_bn.fold_batch_norm` copy,
- ``keras.applications``' model of the same name.

Ratios: pinned time / folded time and keras time / folded time, of the best
(fastest) runs as in bench_inference (medians are printed too); >= 1.0 means
the folded model is at least as fast. Runs on the Keras backend that
``KERAS_BACKEND`` names: on TensorFlow, grappler/oneDNN may already fuse an
inference BN into the convolution before it; backends that run BN as separate
operations are where folding should pay.

    python benchmarks/bench_fold.py [--repeats 7] [--size 128]
    KERAS_BACKEND=jax python benchmarks/bench_fold.py
"""

import argparse
import os
import platform
import statistics
import time

import numpy as np

from common import Model, print_table, save_results

MODELS = [
    Model("ResNet50", "resnet50"),
    Model("MobileNetV2", "mobilenet_v2"),
    Model("EfficientNetB0", "efficientnet"),
]


def round_robin(fns, repeats):
    """Run every function of ``fns`` once per round, starting each round with the
    next one; return the list of seconds of each."""
    times = [[] for _ in fns]
    for i in range(repeats):
        for k in range(len(fns)):
            j = (i + k) % len(fns)
            start = time.perf_counter()
            fns[j]()
            times[j].append(time.perf_counter() - start)
    return times


def environment():
    import keras

    backend = keras.backend.backend()
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(backend)
    version = getattr(__import__(module), "__version__", "?") if module else "?"
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}",
        "python": platform.python_version(),
        "keras": keras.__version__,
        "backend": f"{backend} {version}",
    }


def run(repeats=7, batch=8, size=None, min_seconds=1.5, models=None):
    import keras

    from keras_applications_bn import fold_batch_norm

    rows = []
    for spec in models or MODELS:
        shape = (size, size, 3) if size else spec.shape
        kwargs = dict(weights=None, input_shape=shape, include_top=False, pooling="avg")
        reference = spec.keras(**kwargs)
        pinned = spec.ours(inference_bn=True, **kwargs)
        pinned.set_weights(reference.get_weights())
        rng = np.random.default_rng(0)
        for layer in pinned.layers:  # statistics that are not the identity map
            if isinstance(layer, keras.layers.BatchNormalization):
                mean, var = layer.moving_mean, layer.moving_variance
                mean.assign(rng.normal(0, 0.1, mean.shape).astype("float32"))
                var.assign(rng.uniform(0.5, 1.5, var.shape).astype("float32"))
        reference.set_weights(pinned.get_weights())
        folded = fold_batch_norm(pinned)

        one = rng.uniform(0, 1, (batch,) + shape).astype("float32")
        for m in (reference, pinned, folded):
            m.predict(one, verbose=0)  # trace
        start = time.perf_counter()
        reference.predict(one, verbose=0)
        batches = max(4, min(64, int(min_seconds / (time.perf_counter() - start))))
        x = rng.uniform(0, 1, (batch * batches,) + shape).astype("float32")
        out = [m.predict(x[:batch], verbose=0) for m in (pinned, folded)]
        error = float(np.abs(out[0] - out[1]).max() / np.abs(out[0]).max())

        fns = [lambda m=m: m.predict(x, batch_size=batch, verbose=0) for m in (folded, pinned, reference)]
        t_folded, t_pinned, t_keras = round_robin(fns, repeats)
        row = {
            "model": spec.fn,
            "backend": keras.backend.backend(),
            "folded BN": len(folded.bn_folding.folded),
            "folded img/s": len(x) / statistics.median(t_folded),
            "pinned img/s": len(x) / statistics.median(t_pinned),
            "keras img/s": len(x) / statistics.median(t_keras),
            "vs pinned": min(t_pinned) / min(t_folded),
            "vs pinned median": statistics.median(t_pinned) / statistics.median(t_folded),
            "vs keras": min(t_keras) / min(t_folded),
            "vs keras median": statistics.median(t_keras) / statistics.median(t_folded),
            "output difference": error,
        }
        rows.append(row)
        print(
            f"  {spec.fn:15s} {row['backend']:10s} folded vs pinned {row['vs pinned']:.3f} "
            f"(median {row['vs pinned median']:.3f}), vs keras {row['vs keras']:.3f} "
            f"(median {row['vs keras median']:.3f})",
            flush=True,
        )
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--size", type=int, default=None, help="input side (default: 128)")
    args = parser.parse_args()
    env = environment()
    rows = run(repeats=args.repeats, size=args.size)
    print()
    print_table(
        rows,
        ["model", "backend", "folded BN", "folded img/s", "pinned img/s", "keras img/s",
         "vs pinned", "vs pinned median", "vs keras", "vs keras median"],
    )
    save_results(f"fold_{rows[0]['backend']}", rows, {"environment": env})


if __name__ == "__main__":
    main()
