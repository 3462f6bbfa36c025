"""1. Inference throughput, ours / keras.applications, for every architecture.

For each model and each ``inference_bn`` setting, both models get the same
weights; ``predict`` over a few batches and a compiled call
(``tf.function(model)``) are timed alternately, warm. Throughput ratio =
keras time / our time (>= 0.97 is the target: 1.0 means equal speed).
"""

import argparse
import time

import numpy as np

from common import MODELS, alternate, print_table, save_results


def run(repeats=7, batch=8, min_seconds=1.5, models=None):
    """Each timed run covers enough batches to last about ``min_seconds`` (at least 4):
    short runs of fast models are dominated by noise."""
    import tensorflow as tf

    rows = []
    for spec in models or MODELS:
        reference = spec.keras(weights=None, input_shape=spec.shape, include_top=False, pooling="avg")
        one = np.random.default_rng(0).uniform(0, 1, (batch,) + spec.shape).astype("float32")
        reference.predict(one, verbose=0)
        start = time.perf_counter()
        reference.predict(one, verbose=0)
        batches = max(4, min(64, int(min_seconds / (time.perf_counter() - start))))
        x = np.random.default_rng(0).uniform(0, 1, (batch * batches,) + spec.shape).astype("float32")
        for flag in (False, True):
            ours = spec.ours(weights=None, input_shape=spec.shape, include_top=False, pooling="avg", inference_bn=flag)
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
                t_ours, t_keras = alternate(run_ours, run_keras, repeats)
                rows.append(
                    {
                        "model": spec.fn,
                        "inference_bn": flag,
                        "kind": kind,
                        "ours img/s": len(x) / t_ours,
                        "keras img/s": len(x) / t_keras,
                        "ratio": t_keras / t_ours,
                    }
                )
                print(f"  {spec.fn:12s} inference_bn={flag!s:5s} {kind:13s} ratio {t_keras / t_ours:.3f}", flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    rows = run(repeats=args.repeats)
    print()
    print_table(rows, ["model", "inference_bn", "kind", "ours img/s", "keras img/s", "ratio"])
    save_results("inference", rows)


if __name__ == "__main__":
    main()
