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
    args = parser.parse_args()
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
