"""2. Fine-tuning step time and 5. peak memory, ours / keras.applications.

Step time (``train_on_batch``, warm, alternated, median) of a classifier on a
backbone:

- ours, ``inference_bn=True``, backbone trainable (gamma/beta and convolutions
  train, BN uses its moving statistics) vs keras, backbone trainable (BN in
  training mode: batch moments and moving-average updates every step);
- the same ours vs keras with the backbone frozen (``trainable=False``): keras
  then trains only the head and skips the backbone's backward pass, so this is
  a different amount of work, shown for reference;
- ours frozen vs keras frozen: the same work, the overhead of our layer.

Peak memory: the peak resident set size (``VmHWM``) of a fresh process that
builds the model and runs a few fine-tuning steps, ours (pinned, trainable) vs
keras (trainable), alternated.
"""

import argparse
import os
import statistics
import subprocess
import sys

import numpy as np

from common import MODELS, ROOT, alternate, print_table, save_results

FINETUNE_MODELS = [m for m in MODELS if m.fn in ("ResNet50", "MobileNet", "InceptionV3")]


def classifier(base, shape, trainable):
    import keras

    base.trainable = trainable
    inputs = keras.Input(shape)
    outputs = keras.layers.Dense(10)(base(inputs, training=False))
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.SGD(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def build(spec, side, trainable):
    kwargs = dict(weights=None, input_shape=spec.shape, include_top=False, pooling="avg")
    base = spec.ours(inference_bn=True, **kwargs) if side == "ours" else spec.keras(**kwargs)
    return classifier(base, spec.shape, trainable)


def step_times(repeats=7, batch=8):
    rows = []
    for spec in FINETUNE_MODELS:
        x = np.random.default_rng(0).uniform(0, 1, (batch,) + spec.shape).astype("float32")
        y = np.arange(batch) % 10
        models = {
            ("ours", True): build(spec, "ours", True),
            ("keras", True): build(spec, "keras", True),
            ("ours", False): build(spec, "ours", False),
            ("keras", False): build(spec, "keras", False),
        }
        for m in models.values():  # trace and warm up
            m.train_on_batch(x, y)
            m.train_on_batch(x, y)
        step = {key: (lambda m=m: m.train_on_batch(x, y)) for key, m in models.items()}
        pairs = [
            ("ours pinned+trainable vs keras trainable", ("ours", True), ("keras", True)),
            ("ours pinned+trainable vs keras frozen", ("ours", True), ("keras", False)),
            ("ours frozen vs keras frozen", ("ours", False), ("keras", False)),
        ]
        for label, a, b in pairs:
            t_ours, t_keras = alternate(step[a], step[b], repeats)
            rows.append(
                {
                    "model": spec.fn,
                    "comparison": label,
                    "ours ms": 1e3 * t_ours,
                    "keras ms": 1e3 * t_keras,
                    "ratio": t_ours / t_keras,
                }
            )
            print(f"  {spec.fn:12s} {label:42s} time ratio {t_ours / t_keras:.3f}", flush=True)
    return rows


def train_steps(rounds=7, batch=8, steps=3, models=None):
    """The pinned fine-tuning step against the BN-free step it could at best reach.

    Three classifiers on the same backbone (``train_on_batch``, backbone
    trainable): ours pinned (``inference_bn=True``), its ``fold_batch_norm`` copy
    (no BN at all: what fusing the pinned BN into the convolutions could reach),
    and keras.applications' model with BN in training mode. Paired rounds
    (``bench_fold.paired_rounds``: the three back to back in a rotating order,
    each timing ``steps`` steps); the median of the per-round ratios pinned /
    folded and keras / pinned, with quartiles, wall-clock and CPU time, and an A/A
    control (the pinned classifier against a second copy of itself).
    """
    from bench_fold import paired_rounds, summarize

    from keras_applications_bn import fold_batch_norm

    rows = []
    for spec in models or FINETUNE_MODELS:
        kwargs = dict(weights=None, input_shape=spec.shape, include_top=False, pooling="avg")
        pinned_base = spec.ours(inference_bn=True, **kwargs)
        twin_base = spec.ours(inference_bn=True, **kwargs)
        twin_base.set_weights(pinned_base.get_weights())
        keras_base = spec.keras(**kwargs)
        keras_base.set_weights(pinned_base.get_weights())
        folded_base = fold_batch_norm(pinned_base)
        x = np.random.default_rng(0).uniform(0, 1, (batch,) + spec.shape).astype("float32")
        y = np.arange(batch) % 10
        models_ = [
            classifier(base, spec.shape, True)
            for base in (folded_base, pinned_base, keras_base, twin_base)
        ]
        for m in models_:  # trace and warm up
            m.train_on_batch(x, y)
        fns = [lambda m=m: [m.train_on_batch(x, y) for _ in range(steps)] for m in models_]
        folded, pinned, keras_trainable, twin = paired_rounds(fns, rounds, warmup=1)
        for label, a, b in (
            ("pinned / folded (no BN)", pinned, folded),
            ("keras trainable BN / pinned", keras_trainable, pinned),
            ("A/A control: pinned vs pinned", twin, pinned),
        ):
            ratios = summarize(a, b)
            row = {
                "model": spec.fn,
                "comparison": label,
                "ratio": ratios["wall"]["median"],
                "IQR": f"{ratios['wall']['q1']:.2f}-{ratios['wall']['q3']:.2f}",
                "CPU ratio": ratios["cpu"]["median"],
                "CPU IQR": f"{ratios['cpu']['q1']:.2f}-{ratios['cpu']['q3']:.2f}",
                "ratios": ratios,
            }
            rows.append(row)
            print(
                f"  {spec.fn:12s} {label:38s} {row['ratio']:.3f} [{row['IQR']}] "
                f"CPU {row['CPU ratio']:.3f} [{row['CPU IQR']}]",
                flush=True,
            )
    return rows


_MEMORY_CHILD = """
import json, os, resource, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
sys.path.insert(0, {bench!r})
import numpy as np
from bench_finetune import build
from common import MODELS
spec = [m for m in MODELS if m.fn == {fn!r}][0]
model = build(spec, {side!r}, True)
x = np.random.default_rng(0).uniform(0, 1, (8,) + spec.shape).astype("float32")
y = np.arange(8) % 10
model.fit(x, y, batch_size=8, epochs=3, verbose=0)
# VmHWM: this process's own peak. ru_maxrss is not: Linux carries the parent's
# peak over fork and exec, so a large benchmark parent would hide the child's.
try:
    with open("/proc/self/status") as f:
        peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
except (OSError, StopIteration):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print("RSS", peak)
"""


def peak_rss(spec, side):
    code = _MEMORY_CHILD.format(bench=str(ROOT / "benchmarks"), fn=spec.fn, side=side)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    return int(out.rsplit("RSS", 1)[1]) / 1024.0  # KiB -> MiB


def memory(repeats=3):
    rows = []
    for spec in FINETUNE_MODELS[:1]:
        ours, theirs = [], []
        for i in range(repeats):
            order = (
                (("ours", ours), ("keras", theirs))
                if i % 2 == 0
                else (("keras", theirs), ("ours", ours))
            )
            for side, values in order:
                values.append(peak_rss(spec, side))
        o, k = statistics.median(ours), statistics.median(theirs)
        rows.append({"model": spec.fn, "ours MiB": o, "keras MiB": k, "ratio": o / k})
        print(f"  {spec.fn:12s} peak RSS ratio {o / k:.3f}", flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--train-steps-only",
        action="store_true",
        help="only the pinned / folded / keras-trainable paired rounds (any backend)",
    )
    parser.add_argument("--models", default=None, help="a subset of ResNet50,MobileNet,InceptionV3")
    args = parser.parse_args()
    models = [m for m in FINETUNE_MODELS if not args.models or m.fn in args.models.split(",")]
    import keras

    trained = train_steps(rounds=args.repeats, models=models)
    save_results(f"train_steps_{keras.backend.backend()}", trained)
    print()
    print_table(trained, ["model", "comparison", "ratio", "IQR", "CPU ratio", "CPU IQR"])
    if args.train_steps_only:
        return
    steps = step_times(repeats=args.repeats)
    mem = memory()
    print()
    print_table(steps, ["model", "comparison", "ours ms", "keras ms", "ratio"])
    print()
    print_table(mem, ["model", "ours MiB", "keras MiB", "ratio"])
    save_results("finetune", steps)
    save_results("memory", mem)


if __name__ == "__main__":
    main()
