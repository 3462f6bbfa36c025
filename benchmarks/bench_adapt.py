"""7. Cost of `adapt_bn_statistics` relative to one `model.predict` over the same data.

For ResNet50, MobileNet and EfficientNetB0 (headless, average pooling, pinned) at
128x128 and 224x224: paired rounds (``bench_fold.paired_rounds``) each time
``predict``, ``adapt_bn_statistics`` and ``predict`` again over the same images,
in an order that rotates from round to round, after an untimed warm-up round
(which traces both). A round gives the ratio adapt time / predict time and, as
the A/A control, the second predict's time / the first's (the noise floor). The
result is the median of the per-round ratios with their interquartile range, for
wall-clock and for CPU time, and the best-of ratio: adapt's best round over
predict's (other work on a shared machine only adds time). Target: adapt <= 1.05x
predict.

    python benchmarks/bench_adapt.py [--rounds 5] [--sizes 128,224] [--models ResNet50] [--samples 256]
    KERAS_BACKEND=jax python benchmarks/bench_adapt.py
"""

import argparse

import numpy as np
from bench_fold import environment, paired_rounds, summarize

from common import Model, print_table, save_results

MODELS = [
    Model("ResNet50", "resnet50"),
    Model("MobileNet", "mobilenet"),
    Model("EfficientNetB0", "efficientnet"),
]
SIZES = (128, 224)
TARGET = 1.05


def measure(spec, size, samples=256, batch_size=32, rounds=5):
    """Paired rounds of predict / adapt_bn_statistics / predict on ``spec`` at ``size``.

    Returns:
        Two rows: adapt vs predict, and the A/A control (predict vs predict).
    """
    import keras

    from keras_applications_bn import adapt_bn_statistics

    model = spec.ours(
        weights=None,
        include_top=False,
        pooling="avg",
        input_shape=(size, size, 3),
        inference_bn=True,
    )
    data = np.random.default_rng(0).uniform(0, 255, (samples, size, size, 3)).astype("float32")
    fns = [
        lambda: model.predict(data, batch_size=batch_size, verbose=0),
        lambda: adapt_bn_statistics(model, data, batch_size=batch_size, verbose=0),
        lambda: model.predict(data, batch_size=batch_size, verbose=0),
    ]
    predict, adapt, control = paired_rounds(fns, rounds, warmup=1)
    rows = []
    for case, times in (("adapt / predict", adapt), ("A/A control: predict vs predict", control)):
        ratios = summarize(times, predict)
        rows.append(
            {
                "model": spec.fn,
                "size": size,
                "backend": keras.backend.backend(),
                "case": case,
                "ratio": ratios["wall"]["median"],
                "IQR": f"{ratios['wall']['q1']:.2f}-{ratios['wall']['q3']:.2f}",
                "CPU ratio": ratios["cpu"]["median"],
                "CPU IQR": f"{ratios['cpu']['q1']:.2f}-{ratios['cpu']['q3']:.2f}",
                "best": ratios["wall"]["best"],
                "CPU best": ratios["cpu"]["best"],
                "predict s": float(np.median([t[0] for t in predict])),
                "rounds": rounds,
                "ratios": ratios,
            }
        )
    return rows


def run(rounds=5, sizes=SIZES, models=None, samples=256, batch_size=32):
    rows = []
    for spec in models or MODELS:
        for size in sizes:
            for row in measure(spec, size, samples, batch_size, rounds):
                rows.append(row)
                print(
                    f"  {row['model']:15s} {row['size']} {row['backend']:10s} {row['case']:32s} "
                    f"{row['ratio']:.3f} [{row['IQR']}] CPU {row['CPU ratio']:.3f} [{row['CPU IQR']}]"
                    f" best {row['best']:.3f}, CPU {row['CPU best']:.3f}",
                    flush=True,
                )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--models", default=None, help=f"a subset of {','.join(m.fn for m in MODELS)}"
    )
    args = parser.parse_args(argv)
    models = [m for m in MODELS if not args.models or m.fn in args.models.split(",")]
    if not models:
        parser.error(
            f"--models: use some of {', '.join(m.fn for m in MODELS)}, got {args.models!r}"
        )
    sizes = [int(s) for s in args.sizes.split(",") if s]
    rows = run(args.rounds, sizes, models, args.samples, args.batch_size)
    print()
    columns = ["model", "size", "backend", "case", "ratio", "IQR", "CPU ratio", "CPU IQR"]
    print_table(rows, columns + ["best", "CPU best"])
    save_results(f"adapt_{rows[0]['backend']}", rows, {"environment": environment()})
    return rows


if __name__ == "__main__":
    main()
