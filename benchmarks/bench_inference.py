"""1. Inference throughput, ours / keras.applications, for every architecture.

For each model and each ``inference_bn`` setting, both models get the same
weights; ``predict`` over a few batches and a compiled call
(``tf.function(model)``) are timed alternately, warm. Throughput ratio =
keras time / our time (>= 0.97 is the target: 1.0 means equal speed).

Two ratios are reported: of the medians, and of the best (fastest) runs. On a
shared 2-core machine the same ``predict`` call jumps between two speeds (seen:
0.7 s and 1.3 s, for either model, at random), so a median of a few runs can
land in either mode; the best run of each side is the stable measure of what
each graph costs, and the target is judged on it. An A/A control (the same Keras
model timed against a copy of itself) shows how far apart two identical graphs
measure on the machine at that moment.
"""

import argparse
import statistics
import time

import numpy as np

from common import CONTROL, MODELS, alternate_times, print_table, save_results


def run(repeats=7, batch=8, min_seconds=1.5, models=None):
    """Each timed run covers enough batches to last about ``min_seconds`` (at least 4):
    short runs of fast models are dominated by noise."""
    import tensorflow as tf

    rows = []
    for spec in models or MODELS:
        reference = spec.keras(
            weights=None, input_shape=spec.shape, include_top=False, pooling="avg"
        )
        one = np.random.default_rng(0).uniform(0, 1, (batch,) + spec.shape).astype("float32")
        reference.predict(one, verbose=0)
        start = time.perf_counter()
        reference.predict(one, verbose=0)
        batches = max(4, min(64, int(min_seconds / (time.perf_counter() - start))))
        x = (
            np.random.default_rng(0)
            .uniform(0, 1, (batch * batches,) + spec.shape)
            .astype("float32")
        )
        kwargs = dict(weights=None, input_shape=spec.shape, include_top=False, pooling="avg")
        contenders = [
            (f"inference_bn={flag}", lambda flag=flag: spec.ours(inference_bn=flag, **kwargs))
            for flag in (False, True)
        ]
        if spec is (models or MODELS)[0]:
            # the same Keras model twice: how far apart two identical graphs measure here
            contenders.append((CONTROL, lambda: spec.keras(**kwargs)))
        for label, make in contenders:
            ours = make()
            ours.set_weights(reference.get_weights())
            for kind in ("predict", "compiled call"):
                if kind == "predict":
                    run_ours = lambda: ours.predict(x, batch_size=batch, verbose=0)  # noqa: E731
                    run_keras = lambda: reference.predict(x, batch_size=batch, verbose=0)  # noqa: E731
                else:
                    f_ours, f_keras = tf.function(ours), tf.function(reference)
                    run_ours = lambda: [f_ours(x[i : i + batch]) for i in range(0, len(x), batch)]  # noqa: E731
                    run_keras = lambda: [f_keras(x[i : i + batch]) for i in range(0, len(x), batch)]  # noqa: E731
                run_ours(), run_keras()  # warm up: trace both
                times_ours, times_keras = alternate_times(run_ours, run_keras, repeats)
                t_ours, t_keras = statistics.median(times_ours), statistics.median(times_keras)
                best = min(times_keras) / min(times_ours)
                rows.append(
                    {
                        "model": spec.fn,
                        "case": label,
                        "kind": kind,
                        "ours img/s": len(x) / t_ours,
                        "keras img/s": len(x) / t_keras,
                        "median ratio": t_keras / t_ours,
                        "ratio": best,
                    }
                )
                print(
                    f"  {spec.fn:12s} {label:28s} {kind:13s} "
                    f"ratio best {best:.3f}, median {t_keras / t_ours:.3f}",
                    flush=True,
                )
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    rows = run(repeats=args.repeats)
    print()
    print_table(
        rows, ["model", "case", "kind", "ours img/s", "keras img/s", "median ratio", "ratio"]
    )
    save_results("inference", rows)


if __name__ == "__main__":
    main()
