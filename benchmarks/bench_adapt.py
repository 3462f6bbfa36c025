"""Cost of `adapt_bn_statistics` relative to one `model.predict` over the same data.

Both run on the same model and data, warm (each traced once before timing), in
alternation, and the median of ``--repeats`` timings of each is compared. Target:
adapt <= 1.3x predict.

    python benchmarks/bench_adapt.py [--size 64] [--samples 512] [--batch-size 32] [--repeats 5]
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from keras_applications_bn import ResNet50, adapt_bn_statistics  # noqa: E402


def measure(size=64, samples=512, batch_size=32, repeats=5, inference_bn=True):
    """Median seconds of ``predict`` and of ``adapt_bn_statistics``, and their ratio."""
    model = ResNet50(
        weights=None,
        include_top=False,
        pooling="avg",
        input_shape=(size, size, 3),
        inference_bn=inference_bn,
    )
    data = np.random.default_rng(0).uniform(0, 255, (samples, size, size, 3)).astype("float32")
    # warm-up: trace both
    model.predict(data[: 2 * batch_size], batch_size=batch_size, verbose=0)
    adapt_bn_statistics(model, data[: 2 * batch_size], batch_size=batch_size, verbose=0)
    times = {"predict": [], "adapt": []}
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict(data, batch_size=batch_size, verbose=0)
        times["predict"].append(time.perf_counter() - start)
        start = time.perf_counter()
        adapt_bn_statistics(model, data, batch_size=batch_size, verbose=0)
        times["adapt"].append(time.perf_counter() - start)
    predict = statistics.median(times["predict"])
    adapt = statistics.median(times["adapt"])
    return {"predict_s": predict, "adapt_s": adapt, "ratio": adapt / predict}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    result = measure(args.size, args.samples, args.batch_size, args.repeats)
    print(
        f"ResNet50 {args.size}x{args.size}, {args.samples} images, batch {args.batch_size}, "
        f"median of {args.repeats}: predict {result['predict_s']:.3f} s, "
        f"adapt_bn_statistics {result['adapt_s']:.3f} s, ratio {result['ratio']:.2f}x (target <= 1.3x)"
    )
    return result


if __name__ == "__main__":
    main()
