"""6. BN folding: inference speed of the folded pinned model.

For ResNet50, MobileNetV2 and EfficientNetB0 (headless, average pooling, the same
weights everywhere) three models are timed in one run:

- the pinned model (``inference_bn=True``),
- its :func:`~keras_applications_bn.fold_batch_norm` copy,
- ``keras.applications``' model of the same name.

Two ways of running them are timed (``--modes``):

- ``predict``: ``model.predict`` over ``batches`` batches (what a user calls);
- ``call``: the backend's compiled inference call of one batch, ``batches``
  times (``jax.jit`` of ``stateless_call`` on JAX, a ``tf.function`` on
  TensorFlow, the eager call under ``torch.no_grad`` on PyTorch): the model's
  own operations without ``predict``'s per-batch data handling.

Paired rounds: each round times the three models once each, back to back, in
an order that rotates from round to round, after untimed warm-up rounds; each
timing runs enough batches to last ``--min-seconds``. A round gives the paired
ratios pinned time / folded time and keras time / folded time (> 1.0: the
folded model is faster), so both sides of a ratio see the same machine state.
The result is the median of the per-round ratios with their interquartile
range and the count of rounds in which the folded model was faster, once for
wall-clock time and once for the process' CPU time (less sensitive to other
jobs on a shared machine; ``--threads 1``, the default, makes the backends run
single-threaded, so CPU time is the work done).

    python benchmarks/bench_fold.py [--rounds 15] [--size 128] [--modes predict,call] [--models ResNet50]
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
MODES = ("predict", "call")


def limit_threads(threads):
    """Make TensorFlow, XLA (JAX) and PyTorch use ``threads`` threads: set before
    the backend is imported (PyTorch's is also set after, in :func:`run`)."""
    n = str(threads)
    os.environ["OMP_NUM_THREADS"] = n
    os.environ["TF_NUM_INTRAOP_THREADS"] = n
    os.environ["TF_NUM_INTEROP_THREADS"] = n
    if threads == 1:
        flags = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip()


def paired_rounds(fns, rounds, warmup=2):
    """Time every function of ``fns`` once per round, back to back, starting each
    round with the next one; return per function the list of (wall, CPU) seconds
    of the ``rounds`` timed rounds (``warmup`` rounds before them are not kept)."""
    times = [[] for _ in fns]
    for i in range(warmup + rounds):
        for k in range(len(fns)):
            j = (i + k) % len(fns)
            wall, cpu = time.perf_counter(), time.process_time()
            fns[j]()
            if i >= warmup:
                times[j].append((time.perf_counter() - wall, time.process_time() - cpu))
    return times


def summarize(other, folded):
    """Per-round ratios other / folded (wall and CPU): median, quartiles, and in
    how many rounds the folded model was faster; and ``best``, the best (least)
    time of ``other`` over that of ``folded``: a shared machine's other work only
    ever adds time, so each side's best round is the nearest to its own cost."""
    out = {}
    for k, clock in enumerate(("wall", "cpu")):
        ratios = sorted(o[k] / f[k] for o, f in zip(other, folded))
        q1, _, q3 = statistics.quantiles(ratios, n=4, method="inclusive")
        out[clock] = {
            "median": statistics.median(ratios),
            "best": min(o[k] for o in other) / min(f[k] for f in folded),
            "q1": q1,
            "q3": q3,
            "min": ratios[0],
            "max": ratios[-1],
            "faster": sum(r > 1.0 for r in ratios),
            "rounds": len(ratios),
        }
    return out


def compiled_call(model, batch):
    """The backend's compiled (or, on PyTorch, eager no-grad) inference call of
    ``model`` on one batch, as a function of no arguments."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        trainable = [v.value for v in model.trainable_variables]
        frozen = [v.value for v in model.non_trainable_variables]
        fn = jax.jit(lambda t, n, x: model.stateless_call(t, n, x, training=False)[0])
        x = jax.numpy.asarray(batch)
        return lambda: fn(trainable, frozen, x).block_until_ready()
    if backend == "tensorflow":
        import tensorflow as tf

        fn = tf.function(lambda x: model(x, training=False))
        x = tf.constant(batch)
        return lambda: fn(x).numpy()
    if backend == "torch":
        import torch

        x = keras.ops.convert_to_tensor(batch)

        def call():
            with torch.no_grad():
                return model(x, training=False).cpu()

        return call
    raise ValueError(f"No compiled call for the Keras backend {backend!r}.")


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


def run(rounds=15, batch=8, size=None, min_seconds=1.0, models=None, modes=MODES, threads=None):
    import keras

    from keras_applications_bn import fold_batch_norm

    if threads and keras.backend.backend() == "torch":
        import torch

        torch.set_num_threads(threads)
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
        out = [m.predict(one, verbose=0) for m in (pinned, folded, reference)]  # traces predict
        error = float(np.abs(out[0] - out[1]).max() / np.abs(out[0]).max())
        start = time.perf_counter()
        reference.predict(one, verbose=0)
        batches = max(2, min(64, round(min_seconds / (time.perf_counter() - start))))
        x = rng.uniform(0, 1, (batch * batches,) + shape).astype("float32")

        for mode in modes:
            if mode == "predict":
                fns = [
                    lambda m=m: m.predict(x, batch_size=batch, verbose=0)
                    for m in (folded, pinned, reference)
                ]
            else:
                calls = [compiled_call(m, one) for m in (folded, pinned, reference)]
                for c in calls:
                    c()  # compile
                fns = [lambda c=c: [c() for _ in range(batches)] for c in calls]
            t_folded, t_pinned, t_keras = paired_rounds(fns, rounds)
            vs_pinned, vs_keras = summarize(t_pinned, t_folded), summarize(t_keras, t_folded)
            row = {
                "model": spec.fn,
                "backend": keras.backend.backend(),
                "mode": mode,
                "folded BN": len(folded.bn_folding.folded),
                "batches": batches,
                "folded img/s": len(x) / statistics.median(t[0] for t in t_folded),
                "pinned img/s": len(x) / statistics.median(t[0] for t in t_pinned),
                "keras img/s": len(x) / statistics.median(t[0] for t in t_keras),
                "vs pinned": vs_pinned["wall"]["median"],
                "vs pinned IQR": f"{vs_pinned['wall']['q1']:.2f}-{vs_pinned['wall']['q3']:.2f}",
                "vs pinned CPU": vs_pinned["cpu"]["median"],
                "vs pinned CPU IQR": f"{vs_pinned['cpu']['q1']:.2f}-{vs_pinned['cpu']['q3']:.2f}",
                "folded faster": f"{vs_pinned['wall']['faster']}/{rounds}",
                "vs keras": vs_keras["wall"]["median"],
                "vs keras IQR": f"{vs_keras['wall']['q1']:.2f}-{vs_keras['wall']['q3']:.2f}",
                "vs keras CPU": vs_keras["cpu"]["median"],
                "pinned ratios": vs_pinned,
                "keras ratios": vs_keras,
                "output difference": error,
            }
            rows.append(row)
            print(
                f"  {spec.fn:15s} {row['backend']:10s} {mode:7s} folded vs pinned {row['vs pinned']:.3f} "
                f"[{row['vs pinned IQR']}] CPU {row['vs pinned CPU']:.3f} [{row['vs pinned CPU IQR']}], "
                f"faster in {row['folded faster']}; vs keras {row['vs keras']:.3f} [{row['vs keras IQR']}]",
                flush=True,
            )
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--size", type=int, default=None, help="input side (default: 128)")
    parser.add_argument(
        "--min-seconds", type=float, default=1.0, help="least seconds of one timing"
    )
    parser.add_argument("--modes", default=",".join(MODES), help="predict, call or both")
    parser.add_argument(
        "--threads", type=int, default=1, help="backend threads (0: the backend's default)"
    )
    parser.add_argument(
        "--models", default=None, help=f"a subset of {','.join(m.fn for m in MODELS)}"
    )
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    if not modes or set(modes) - set(MODES):
        parser.error(f"--modes: use {', '.join(MODES)} (comma-separated), got {args.modes!r}")
    models = [m for m in MODELS if not args.models or m.fn in args.models.split(",")]
    if not models:
        parser.error(
            f"--models: use some of {', '.join(m.fn for m in MODELS)}, got {args.models!r}"
        )
    if args.threads:
        limit_threads(args.threads)
    env = environment()
    env["threads"] = args.threads or "default"
    rows = run(
        rounds=args.rounds,
        size=args.size,
        min_seconds=args.min_seconds,
        modes=modes,
        models=models,
        threads=args.threads,
    )
    print()
    print_table(
        rows,
        [
            "model",
            "backend",
            "mode",
            "folded BN",
            "folded img/s",
            "pinned img/s",
            "vs pinned",
            "vs pinned IQR",
            "vs pinned CPU",
            "vs pinned CPU IQR",
            "folded faster",
            "vs keras",
            "vs keras IQR",
            "vs keras CPU",
        ],
    )
    save_results(f"fold_{rows[0]['backend']}", rows, {"environment": env})


if __name__ == "__main__":
    main()
