"""Every public tool refuses classic bad arguments the same way, and takes NumPy scalars.

One table: for each tool, each argument gets the usual mistakes (a string for a
flag, a float for a size or a count, NaN, a negative number, something that is
not a model). Each must raise TypeError (wrong kind) or ValueError (right kind,
wrong value) with a message that names the argument, before anything changes:
the model's weights, layers and BN modes are compared before and after. NumPy
scalars (np.int64, np.bool_, np.float32) are accepted wherever a Python int,
bool or float is.
"""

import hashlib
import math
import re

import keras
import numpy as np
import pytest

from keras_applications_bn import (
    AdaptBNStatistics,
    GradualUnfreezing,
    LayerwiseLR,
    adapt_bn_statistics,
    bn_layers,
    bn_summary,
    fetch_file,
    fold_batch_norm,
    forget_traced_functions,
    freeze,
    imagenet_utils,
    lr_multipliers,
    reset_bn_statistics,
    set_inference_bn,
    to_keras,
    unfreeze,
)
from keras_applications_bn.batchnorm import fit_mode
from keras_applications_bn.export.formats import export_model
from keras_applications_bn.layers import BatchNormalization

from conftest import model_state

NAN = float("nan")


def tiny_model():
    """conv + Keras BN, conv + this package's BN (pinned), a head; 8x8 images."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="c1")(inputs)
    x = keras.layers.BatchNormalization(name="b1")(x)
    x = keras.layers.Conv2D(4, 3, padding="same", name="c2")(keras.layers.ReLU(name="r1")(x))
    x = BatchNormalization(name="b2", inference_mode=True)(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="head")(x), name="tiny")


def images(n=8):
    return np.random.default_rng(0).normal(size=(n, 8, 8, 3)).astype("float32")


def snapshot(model):
    return model_state(model), [(layer.name, fit_mode(layer)) for layer in bn_layers(model)]


def one_shot():
    yield images(4)


A_LAYER = keras.layers.Dense(2)
NOT_A_MODEL = [("tiny.keras", TypeError), (None, TypeError), (3, TypeError)]
STRING_FLAG = [
    ("no", TypeError),
    ("yes", TypeError),
    (1, TypeError),
    (None, TypeError),
    (NAN, TypeError),
]
POSITIVE_INT = [
    ("4", TypeError),
    (4.0, TypeError),
    (True, TypeError),
    (NAN, TypeError),
    (0, ValueError),
    (-1, ValueError),
]
FACTOR = [
    ("0.1", TypeError),
    (True, TypeError),
    (NAN, ValueError),
    (-1.0, ValueError),
    (math.inf, ValueError),
]


def _fetch(m, tmp_path, **kw):
    arguments = dict(url="https://example.com/f.txt", cache_dir=str(tmp_path / "cache"))
    arguments.update(kw)
    return fetch_file(**arguments)


# tool -> (how to call it: (model, tmp_path, **overrides), {argument: [(bad value, error), ...]})
TOOLS = {
    "set_inference_bn": (
        lambda m, p, **kw: set_inference_bn(**{"model": m, "enabled": True, **kw}),
        {"model": NOT_A_MODEL, "enabled": STRING_FLAG},
    ),
    "bn_layers": (lambda m, p, **kw: bn_layers(**{"model": m, **kw}), {"model": NOT_A_MODEL}),
    "reset_bn_statistics": (
        lambda m, p, **kw: reset_bn_statistics(**{"model": m, **kw}),
        {
            "model": NOT_A_MODEL,
            "layers": [
                ("b1", TypeError),
                (3, TypeError),
                ([0], TypeError),
                (["nope"], ValueError),
                (["c1"], ValueError),
            ],
        },
    ),
    "adapt_bn_statistics": (
        lambda m, p, **kw: adapt_bn_statistics(
            **{"model": m, "data": images(), "verbose": 0, **kw}
        ),
        {
            "model": NOT_A_MODEL + [(A_LAYER, TypeError)],
            "data": [
                (None, TypeError),
                ("abc", TypeError),
                (3, TypeError),
                (images()[0], ValueError),
                (images() * NAN, ValueError),
            ],
            "batch_size": POSITIVE_INT,
            "steps": POSITIVE_INT,
            "layers": [("b1", TypeError), (["nope"], ValueError)],
            "verbose": [
                ("loud", TypeError),
                (3, ValueError),
                (-1, ValueError),
                (1.0, TypeError),
                (True, TypeError),
            ],
            "prior": [
                ("8", TypeError),
                (NAN, ValueError),
                (-1, ValueError),
                (math.inf, ValueError),
                (True, TypeError),
            ],
        },
    ),
    # every argument is checked whatever kind `data` is: here a list of batches
    "adapt_bn_statistics on a list": (
        lambda m, p, **kw: adapt_bn_statistics(
            **{"model": m, "data": [images(4), images(4)], "verbose": 0, **kw}
        ),
        {
            "batch_size": POSITIVE_INT,
            "steps": POSITIVE_INT,
            "prior": [(NAN, ValueError)],
            "verbose": [("loud", TypeError)],
        },
    ),
    "bn_summary": (
        lambda m, p, **kw: bn_summary(**{"model": m, "print_fn": None, **kw}),
        {"model": NOT_A_MODEL, "print_fn": [("print", TypeError), (3, TypeError)]},
    ),
    "forget_traced_functions": (
        lambda m, p, **kw: forget_traced_functions(**{"model": m, **kw}),
        {"model": NOT_A_MODEL},
    ),
    "to_keras": (
        lambda m, p, **kw: to_keras(**{"model": m, **kw}),
        {"model": NOT_A_MODEL + [(A_LAYER, TypeError)]},
    ),
    "fold_batch_norm": (
        lambda m, p, **kw: fold_batch_norm(**{"model": m, **kw}),
        {
            "model": NOT_A_MODEL + [(A_LAYER, TypeError)],
            "moving_statistics": STRING_FLAG,
            "verbose": STRING_FLAG,
        },
    ),
    "export_model": (
        lambda m, p, **kw: export_model(
            **{"model": m, "path": p / "out.keras", "format": "keras", **kw}
        ),
        {
            "model": NOT_A_MODEL + [(A_LAYER, TypeError)],
            "path": [
                (3, TypeError),
                (None, TypeError),
                (b"out.keras", TypeError),
                ("", ValueError),
            ],
            "format": [(None, TypeError), (1, TypeError), ("caffe", ValueError)],
            "fold_bn": STRING_FLAG,
            "moving_statistics": STRING_FLAG,
            "verbose": STRING_FLAG,
        },
    ),
    "freeze": (
        lambda m, p, **kw: freeze(**{"model": m, **kw}),
        {
            "model": NOT_A_MODEL,
            "until": [
                (2.0, TypeError),
                (True, TypeError),
                (NAN, TypeError),
                (["c1"], TypeError),
                ("nope", ValueError),
            ],
        },
    ),
    "unfreeze": (
        lambda m, p, **kw: unfreeze(**{"model": m, **kw}),
        {
            "model": NOT_A_MODEL,
            "start": [(2.0, TypeError), (True, TypeError), (NAN, TypeError), ("nope", ValueError)],
        },
    ),
    "LayerwiseLR": (
        lambda m, p, **kw: LayerwiseLR(
            **{"optimizer": keras.optimizers.SGD(), "multipliers": {"c1": 0.1}, **kw}
        ),
        {
            "optimizer": [({"c1": 0.1}, TypeError), ("adam", TypeError), (None, TypeError)],
            "multipliers": [("c1", TypeError), (None, TypeError), (3, TypeError)]
            + [({"c1": bad}, error) for bad, error in FACTOR],
            "name": [(3, TypeError)],
        },
    ),
    "lr_multipliers": (
        lambda m, p, **kw: lr_multipliers(**{"model": m, "starts": {"c1": 0.1}, **kw}),
        {
            "model": NOT_A_MODEL,
            "starts": [
                ("c1", TypeError),
                ({2.0: 0.1}, TypeError),
                ({True: 0.1}, TypeError),
                ({"nope": 0.1}, ValueError),
            ]
            + [({"c1": bad}, error) for bad, error in FACTOR],
        },
    ),
    "AdaptBNStatistics": (
        lambda m, p, **kw: AdaptBNStatistics(**{"data": images(), **kw}),
        {
            "data": [("abc", TypeError), (None, TypeError), (3, TypeError)],
            "steps": POSITIVE_INT,
            "batch_size": POSITIVE_INT,
            "when": [("batch_end", ValueError), (1, TypeError)],
            "prior": [("8", TypeError), (NAN, ValueError), (-1, ValueError)],
            "verbose": [("loud", TypeError), (2, ValueError), (1.0, TypeError), (NAN, TypeError)],
        },
    ),
    "AdaptBNStatistics every epoch": (
        lambda m, p, **kw: AdaptBNStatistics(**{"data": images(), "when": "epoch_end", **kw}),
        {"data": [(one_shot(), ValueError), (iter([images(4)]), ValueError)]},
    ),
    "GradualUnfreezing": (
        lambda m, p, **kw: GradualUnfreezing(**{"schedule": {1: "c2"}, **kw}),
        {
            "schedule": [
                ("c2", TypeError),
                ({}, ValueError),
                ({1.0: "c2"}, TypeError),
                ({-1: "c2"}, ValueError),
                ({"1": "c2"}, TypeError),
                ({1: 2.5}, TypeError),
                ({1: True}, TypeError),
            ],
            "lr_factor": [("0.1", TypeError), (NAN, ValueError), (0, ValueError), (-1, ValueError)],
            "verbose": [("loud", TypeError), (2, ValueError), (1.0, TypeError)],
        },
    ),
    "decode_predictions": (
        lambda m, p, **kw: imagenet_utils.decode_predictions(
            **{"preds": np.zeros((1, 1000)), "top": 3, **kw}
        ),
        {
            "preds": [(None, TypeError), ("abc", TypeError), (np.zeros((2, 10)), ValueError)],
            "top": [
                ("5", TypeError),
                (5.0, TypeError),
                (True, TypeError),
                (NAN, TypeError),
                (0, ValueError),
                (-1, ValueError),
                (1001, ValueError),
            ],
        },
    ),
    "fetch_file": (
        _fetch,
        {
            "url": [(None, TypeError), (3, TypeError), ("", TypeError)],
            "file_hash": [(3, TypeError), ("xyz", ValueError)],
            "cache_dir": [(3, TypeError)],
            "fname": [(3, TypeError), ("../f.txt", ValueError)],
            "timeout": [
                ("60", TypeError),
                (True, TypeError),
                (NAN, ValueError),
                (-1, ValueError),
                (0, ValueError),
            ],
            "retries": [("3", TypeError), (2.0, TypeError), (True, TypeError), (-1, ValueError)],
            "progress": [("no", TypeError), (1, TypeError), (NAN, TypeError)],
        },
    ),
}


def _case_id(value):
    """A test id that is the same in every pytest-xdist worker: no memory addresses."""
    text = repr(value)
    if " at 0x" in text:
        text = f"<{type(value).__name__}>"
    return text[:30]


CASES = [
    pytest.param(tool, argument, bad, error, id=f"{tool}-{argument}={_case_id(bad)}")
    for tool, (_, arguments) in TOOLS.items()
    for argument, values in arguments.items()
    for bad, error in values
]


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("KERAS_APPLICATIONS_BN_OFFLINE", "1")  # nothing is ever downloaded


@pytest.fixture(scope="module")
def shared_model():
    """One model for every refused call (each compares it before and after)."""
    return tiny_model()


@pytest.mark.parametrize("tool, argument, bad, error", CASES)
def test_a_bad_argument_is_refused_naming_it_and_nothing_changes(
    tool, argument, bad, error, shared_model, tmp_path, capsys
):
    call, _ = TOOLS[tool]
    model = shared_model
    before = snapshot(model)
    with pytest.raises(error) as refused:
        call(model, tmp_path, **{argument: bad})
    assert type(refused.value) is error  # not a subclass (a WeightsError, say)
    # the message names the argument (`schedule[1]` for an item of it)
    assert re.search(rf"`{argument}(\[[^\]]*\])?`", str(refused.value)), str(refused.value)
    assert snapshot(model) == before
    assert not (tmp_path / "out.keras").exists() and not (tmp_path / "cache" / "f.txt").exists()
    assert capsys.readouterr().out == ""  # a refused call prints nothing (no half-run progress)


def test_every_public_tool_has_cases():
    tested = {tool.split(" ")[0] for tool in TOOLS}
    assert tested == {
        "set_inference_bn",
        "bn_layers",
        "reset_bn_statistics",
        "adapt_bn_statistics",
        "bn_summary",
        "forget_traced_functions",
        "to_keras",
        "fold_batch_norm",
        "export_model",
        "freeze",
        "unfreeze",
        "LayerwiseLR",
        "lr_multipliers",
        "AdaptBNStatistics",
        "GradualUnfreezing",
        "decode_predictions",
        "fetch_file",
    }


# -- NumPy scalars ------------------------------------------------------------------


def test_model_tools_take_numpy_scalars(tmp_path):
    model = tiny_model()
    assert set_inference_bn(model, np.bool_(False)) == 2
    assert fit_mode(model.get_layer("b2")) == "batch"
    assert set_inference_bn(model, np.bool_(True)) == 2
    assert (
        adapt_bn_statistics(
            model,
            images(8),
            batch_size=np.int64(4),
            steps=np.int64(1),
            prior=np.float32(2.0),
            verbose=np.int64(0),
        )
        == 4
    )
    assert adapt_bn_statistics(model, images(8), batch_size=np.int32(4), verbose=np.int64(0)) == 8
    assert [layer.name for layer in freeze(model, until=np.int64(1))] == ["c1", "b1"]
    assert [layer.name for layer in unfreeze(model, start=np.int64(-1))] == ["head"]
    assert lr_multipliers(model, {np.int64(0): np.float32(0.5), "c2": np.float64(1.0)}) == {
        "c1": 0.5,
        "b1": 0.5,
        "c2": 1.0,
        "b2": 1.0,
        "head": 1.0,
    }
    optimizer = LayerwiseLR(keras.optimizers.SGD(), {"c1": np.float32(0.5)})
    assert optimizer.multipliers == [("c1", 0.5)] and type(optimizer.multipliers[0][1]) is float
    folded = fold_batch_norm(model, moving_statistics=np.bool_(True), verbose=np.bool_(False))
    assert len(folded.bn_folding.folded) == 2
    written = export_model(
        model,
        tmp_path / "m.keras",
        "keras",
        fold_bn=np.bool_(True),
        moving_statistics=np.bool_(True),
        verbose=np.bool_(False),
    )
    assert (tmp_path / "m.keras").is_file() and not bn_layers(written)


def test_callbacks_and_helpers_take_numpy_scalars(tmp_path, monkeypatch):
    callback = AdaptBNStatistics(
        images(),
        steps=np.int64(1),
        batch_size=np.int64(4),
        prior=np.float32(1.0),
        verbose=np.int64(0),
    )
    assert (callback.steps, callback.batch_size, callback.prior, callback.verbose) == (1, 4, 1.0, 0)
    assert type(callback.batch_size) is int
    unfreezing = GradualUnfreezing(
        {np.int64(1): np.int64(2)}, lr_factor=np.float32(0.5), verbose=np.bool_(False)
    )
    assert unfreezing.schedule == {1: 2} and type(next(iter(unfreezing.schedule))) is int
    assert unfreezing.lr_factor == 0.5 and unfreezing.verbose == 0
    monkeypatch.setattr(
        imagenet_utils,
        "_load_class_index",
        lambda: {i: (f"n{i:08d}", f"class_{i}") for i in range(1000)},
    )
    preds = np.zeros((1, 1000), "float32")
    preds[0, [5, 7]] = [0.9, 0.5]
    assert [
        name for _, name, _ in imagenet_utils.decode_predictions(preds, top=np.int64(2))[0]
    ] == ["class_5", "class_7"]
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "f.txt").write_bytes(b"hello")
    path = fetch_file(
        "https://example.com/f.txt",
        hashlib.sha256(b"hello").hexdigest(),
        cache_dir=str(cache),
        timeout=np.float32(5),
        retries=np.int64(1),
        progress=np.bool_(False),
    )
    assert path == str(cache / "f.txt")
