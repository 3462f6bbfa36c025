"""Shared helpers for the benchmarks: the model list, side-by-side timing, output.

Every comparison alternates the two sides (A B A B ...) and reports the median of
each, so both see the same machine state; ratios are printed, never absolute
targets, because this 2-core machine is noisy.
"""

import dataclasses
import importlib
import json
import os
import pathlib
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS_DIR = ROOT / "benchmarks" / "results"


@dataclasses.dataclass(frozen=True)
class Model:
    """One architecture: our module and the keras.applications function of the same name."""

    fn: str
    module: str
    size: int = 128  # input side used for timing (>= the family's minimum)
    kwargs: dict = dataclasses.field(default_factory=dict)

    def ours(self, **kwargs):
        module = importlib.import_module(f"keras_applications_bn.{self.module}")
        return getattr(module, self.fn)(**{**self.kwargs, **kwargs})

    def keras(self, **kwargs):
        import keras

        return getattr(keras.applications, self.fn)(**{**self.kwargs, **kwargs})

    @property
    def shape(self):
        return (self.size, self.size, 3)

    @property
    def available(self):
        try:
            importlib.import_module(f"keras_applications_bn.{self.module}")
        except ImportError:
            return False
        return True


MODELS = [
    m
    for m in (
        Model("ResNet50", "resnet50"),
        Model("VGG16", "vgg16"),
        Model("VGG19", "vgg19"),
        Model("InceptionV3", "inception_v3"),
        Model("MobileNet", "mobilenet"),
    )
    if m.available
]


#: label of the A/A rows: keras.applications timed against itself (the noise floor)
CONTROL = "A/A control: keras vs keras"


def alternate(a, b, repeats, stat=statistics.median):
    """Run ``a`` and ``b`` alternately ``repeats`` times each; return ``stat`` (the
    median by default) of each one's seconds."""
    times_a, times_b = alternate_times(a, b, repeats)
    return stat(times_a), stat(times_b)


def alternate_times(a, b, repeats):
    """Run ``a`` and ``b`` alternately ``repeats`` times each; return both lists of seconds."""
    times_a, times_b = [], []
    for i in range(repeats):
        for fn, times in (
            ((a, times_a), (b, times_b)) if i % 2 == 0 else ((b, times_b), (a, times_a))
        ):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return times_a, times_b


def environment():
    import keras
    import numpy
    import tensorflow as tf

    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}",
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": numpy.__version__,
    }


def save_results(name, rows, extra=None):
    """Write ``rows`` (a list of dicts) to benchmarks/results/<name>.json."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps({"rows": rows, **(extra or {})}, indent=2))
    return path


def print_table(rows, columns):
    widths = {c: max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for r in rows:
        print("  ".join(_fmt(r.get(c)).ljust(widths[c]) for c in columns), flush=True)


def _fmt(value):
    if isinstance(value, float):
        return f"{value:.3f}"
    return "" if value is None else str(value)
