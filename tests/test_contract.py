"""The inference_bn contract, over every architecture (tests/architectures.py)."""

import json
from functools import partial

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_applications_bn as kab
from keras_applications_bn.layers import BatchNormalization

from architectures import (
    COMPAT_FAMILIES,
    COMPAT_WEIGHT_FAMILIES,
    CONTRACT,
    bn_state,
    compat_params,
    images,
    randomize_bn,
)
from conftest import run_python


def pinned_base(arch, **kwargs):
    """A headless model with every BN pinned and no active dropout: the contract
    is about BN, while dropout (EfficientNet's drop connect inside the blocks) is
    meant to differ between training and inference calls."""
    kwargs = {
        "weights": None,
        "include_top": False,
        "input_shape": arch.shape,
        "inference_bn": True,
        **kwargs,
    }
    return randomize_bn(without_dropout(arch.ours(**kwargs)))


def without_dropout(model):
    """``model`` with the rate of every Dropout layer set to 0."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0
    return model


def with_head(base, shape, training=None, classes=3):
    inputs = keras.Input(shape)
    x = base(inputs) if training is None else base(inputs, training=training)
    if len(x.shape) == 4:
        x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(classes, name="head")(x)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.SGD(0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def labels(n=4, classes=3):
    return np.arange(n) % classes


def assert_same_state(before, after):
    assert len(before) == len(after) > 0
    for (m0, v0), (m1, v1) in zip(before, after):
        np.testing.assert_array_equal(m0, m1)
        np.testing.assert_array_equal(v0, v1)


def trainable_bn_values(model):
    return [w.numpy().copy() for layer in kab.bn_layers(model) for w in layer.trainable_weights]


@pytest.mark.parametrize("arch", compat_params(CONTRACT, families=COMPAT_WEIGHT_FAMILIES))
def test_pinned_model_contract(arch):
    """One pinned model per family, checked in turn (each step reads the model and
    changes nothing the next reads, but the fit, last):

    - a training call uses the moving statistics and leaves them as they are;
    - gradients reach every gamma and beta;
    - ``clone_model`` keeps the mode, and the clone computes the same;
    - nested in a model, even under an explicit ``training=True`` from the outer
      graph, ``fit`` keeps the statistics and trains gamma and beta, and what fit
      saw is what inference sees (``fit`` eagerly but on COMPAT_FAMILIES: see fit).
    """
    base = pinned_base(arch)
    x = images(arch.shape)
    before = bn_state(base)

    # a training call: the moving statistics, kept
    train_out = keras.ops.convert_to_numpy(base(x, training=True))
    infer_out = keras.ops.convert_to_numpy(base(x, training=False))
    np.testing.assert_allclose(train_out, infer_out, rtol=1e-5, atol=1e-5)
    assert_same_state(before, bn_state(base))

    # gradients reach gamma and beta
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(base(x, training=True)))
    variables = [w for layer in kab.bn_layers(base) for w in layer.trainable_weights]
    grads = tape.gradient(loss, [v.value for v in variables])
    assert variables and all(g is not None for g in grads)
    assert sum(float(tf.reduce_sum(tf.abs(g))) > 0 for g in grads) >= len(grads) // 2

    # clone_model keeps the mode
    model = with_head(base, arch.shape)
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    layers = kab.bn_layers(clone)
    assert layers and all(isinstance(l, BatchNormalization) and l.inference_mode for l in layers)
    clone_state = bn_state(clone)
    np.testing.assert_allclose(
        clone(x, training=True), model(x, training=False), rtol=1e-4, atol=1e-5
    )
    assert_same_state(clone_state, bn_state(clone))
    del clone, model

    # nested, and even an explicit training=True from the outer graph cannot unpin it
    check_training_keeps_statistics(
        base, arch.shape, partial(fit, compiled=arch.id in COMPAT_FAMILIES)
    )


def fit(model, x, y, compiled):
    """``model.fit`` of one epoch, through Keras' compiled training function, or
    step by step eagerly (``run_eagerly``). Tracing the training function of a
    large graph is most of a family's contract test (NASNetMobile: 9.8 s of it,
    2.4 s eagerly): the pinned layer decides its mode in Python, the same in both,
    so the contract runs eagerly but on COMPAT_FAMILIES, and every family's
    compiled training is test_train_on_batch_keeps_statistics'."""
    model.run_eagerly = not compiled
    model.fit(x, y, batch_size=4, verbose=0)


def check_training_keeps_statistics(base, shape, train):
    """``train(model, x, y)`` of ``base`` nested under ``training=True`` keeps its
    moving statistics and changes every gamma and beta; afterwards a training
    call gives what an inference call gives. (A compiled inference call of each
    pinned family is compared with Keras' in test_weight_compat.py.)"""
    model = with_head(base, shape, training=True)
    x, y = images(shape, n=8), labels(8)
    before, params = bn_state(base), trainable_bn_values(base)
    train(model, x, y)
    assert_same_state(before, bn_state(base))
    after = trainable_bn_values(base)
    assert params and all(not np.array_equal(a, b) for a, b in zip(params, after))
    np.testing.assert_allclose(
        model(x, training=True), model(x, training=False), rtol=1e-4, atol=1e-5
    )


@pytest.mark.parametrize(
    "arch",
    [
        pytest.param(a, marks=() if i == 0 else pytest.mark.slow, id=a.id)
        for i, a in enumerate(CONTRACT)
    ],
)
def test_train_on_batch_keeps_statistics(arch):
    """train_on_batch traces its own training function (as long as fit's, on large
    graphs): the smallest family in the fast lane, the others in the slow lane."""
    check_training_keeps_statistics(
        pinned_base(arch), arch.shape, lambda model, x, y: model.train_on_batch(x[:4], y[:4])
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "archs",
    [
        pytest.param(
            [a for a in CONTRACT if a.id in COMPAT_FAMILIES], id="compat", marks=pytest.mark.compat
        ),
        # the others in two halves (a fresh process each), which the slow lane's two
        # workers share
        pytest.param([a for a in CONTRACT if a.id not in COMPAT_FAMILIES][0::2], id="others-1"),
        pytest.param([a for a in CONTRACT if a.id not in COMPAT_FAMILIES][1::2], id="others-2"),
    ],
)
def test_save_and_reload_in_new_process(archs, tmp_path):
    """Every contract architecture (the compatibility stage's families, then the
    others), saved as .keras and .h5 and reloaded in one fresh process (after a
    plain package import): still pinned, the same outputs from a training-mode
    call, and a fit after reloading leaves the statistics alone (compiled on
    COMPAT_FAMILIES, eagerly on the others: see fit)."""
    expected_layers = {}
    saved = tmp_path / "saved"
    for arch in archs:
        folder = saved / arch.id
        folder.mkdir(parents=True)
        model = with_head(pinned_base(arch), arch.shape)
        x = images(arch.shape)
        np.save(folder / "x.npy", x)
        np.save(folder / "expected.npy", keras.ops.convert_to_numpy(model(x, training=False)))
        model.save(folder / "model.keras")
        model.save(folder / "model.h5")
        expected_layers[arch.id] = len(kab.bn_layers(model))
        keras.backend.clear_session()
    code = f"""
import json, pathlib, numpy as np, keras
import keras_applications_bn as kab
from keras_applications_bn.layers import BatchNormalization
result = {{}}
for folder in sorted(pathlib.Path({str(saved)!r}).iterdir()):
    x = np.load(folder / "x.npy"); expected = np.load(folder / "expected.npy")
    for name in ("model.keras", "model.h5"):
        model = keras.saving.load_model(folder / name)
        layers = kab.bn_layers(model)
        stats = [l.moving_variance.numpy().copy() for l in layers]
        train_out = keras.ops.convert_to_numpy(model(x, training=True))
        if name == "model.keras":  # one fit per architecture: the mode is the same config in both
            model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                          run_eagerly=folder.name not in {list(COMPAT_FAMILIES)!r})
            model.fit(x, np.arange(len(x)) % 3, epochs=1, verbose=0)
        result[folder.name + "/" + name] = dict(
            n=len(layers),
            pinned=all(isinstance(l, BatchNormalization) and l.inference_mode for l in layers),
            max_diff=float(np.max(np.abs(train_out - expected))),
            stats_kept=all(np.array_equal(s, l.moving_variance.numpy()) for s, l in zip(stats, layers)),
        )
        keras.backend.clear_session()
print("RESULT" + json.dumps(result))
"""
    out = run_python(code, timeout=900).stdout
    result = json.loads(out.split("RESULT", 1)[1])
    for arch in archs:
        for name in ("model.keras", "model.h5"):
            r = result[f"{arch.id}/{name}"]
            assert r["n"] == expected_layers[arch.id] > 0, (arch.id, name)
            assert r["pinned"], (arch.id, name)
            assert r["max_diff"] < 1e-4, (arch.id, name, r["max_diff"])
            assert r["stats_kept"], (arch.id, name)


KERAS_SCALED_SUM = "keras.src.applications.inception_resnet_v2.CustomScaleLayer"


def operation_classes(model):
    """``module.Class`` of every operation: layers, and graph operations such as
    MobileNetV3's ``x + 3.0``."""
    return [f"{type(op).__module__}.{type(op).__qualname__}" for op in model.operations]


@pytest.mark.parametrize("arch", compat_params(CONTRACT))
def test_default_behaves_like_keras(arch):
    reference = randomize_bn(
        without_dropout(arch.keras(weights=None, include_top=False, input_shape=arch.shape))
    )
    ours = without_dropout(arch.ours(weights=None, include_top=False, input_shape=arch.shape))
    ours.set_weights(reference.get_weights())
    # Keras' own classes, operation by operation, so the saved model reloads with
    # Keras alone; the one deliberate difference is InceptionResNetV2's scaled sum,
    # registered here (Keras' own class is not, so its model cannot reload at all)
    # (and ResNeXt's ReduceSum for keras_applications 1.0.8's Lambda: arch.layer_twins)
    twins = {KERAS_SCALED_SUM: "keras_applications_bn.layers.CustomScaleLayer"}
    twins.update(
        {
            f"{type(op).__module__}.{cls}": f"keras_applications_bn.layers.{ours}"
            for cls, ours in arch.layer_twins
            for op in reference.operations
            if type(op).__name__ == cls
        }
    )
    expected = [twins.get(name, name) for name in operation_classes(reference)]
    assert operation_classes(ours) == expected
    x = images(arch.shape)
    np.testing.assert_allclose(
        ours(x, training=False), reference(x, training=False), rtol=1e-4, atol=1e-5
    )
    # training mode: batch statistics, and the moving statistics move the same way
    np.testing.assert_allclose(
        ours(x, training=True), reference(x, training=True), rtol=1e-4, atol=1e-4
    )
    for (m0, v0), (m1, v1) in zip(bn_state(ours), bn_state(reference)):
        np.testing.assert_allclose(m0, m1, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(v0, v1, rtol=1e-4, atol=1e-5)
    assert not np.allclose(ours(x, training=True), ours(x, training=False), rtol=1e-3, atol=1e-3), (
        "training mode should differ from inference mode when BN is not pinned"
    )


@pytest.mark.slow  # two fits of a full model: the fast lane stays within 6 minutes
def test_set_inference_bn_takes_effect_after_compile_and_fit():
    arch = CONTRACT[0]
    base = randomize_bn(arch.ours(weights=None, include_top=False, input_shape=arch.shape))
    model = with_head(base, arch.shape)
    x, y = images(arch.shape, n=8), labels(8)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)  # traced with BN in training mode
    assert kab.set_inference_bn(model) == len(kab.bn_layers(base))
    before = bn_state(base)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)  # no recompile
    assert_same_state(before, bn_state(base))
    np.testing.assert_allclose(
        model(x, training=True), model.predict(x, verbose=0), rtol=1e-4, atol=1e-5
    )
    kab.set_inference_bn(model, enabled=False)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    after = bn_state(base)
    assert any(not np.array_equal(a[0], b[0]) for a, b in zip(before, after))


@pytest.mark.compat
def test_set_inference_bn_converts_keras_applications_models(tmp_path):
    model = keras.applications.ResNet50(weights=None, include_top=False, input_shape=(32, 32, 3))
    weights = [w.copy() for w in model.get_weights()]
    n = kab.set_inference_bn(model)
    assert n == 53
    assert all(isinstance(l, BatchNormalization) and l.inference_mode for l in kab.bn_layers(model))
    for a, b in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    randomize_bn(model)
    x = images((32, 32, 3))
    np.testing.assert_allclose(
        model(x, training=True), model(x, training=False), rtol=1e-5, atol=1e-5
    )
    # the mode is saved with the model
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    assert all(l.inference_mode for l in kab.bn_layers(reloaded))


def test_set_inference_bn_rejects_bad_arguments():
    with pytest.raises(TypeError, match="enabled"):
        kab.set_inference_bn(keras.Sequential([keras.layers.BatchNormalization()]), enabled="yes")
    with pytest.raises(TypeError, match="model"):
        kab.set_inference_bn("resnet50")


def test_set_inference_bn_refuses_foreign_subclasses_before_changing_anything():
    class CustomBN(keras.layers.BatchNormalization):
        pass

    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.BatchNormalization(name="plain"), CustomBN(name="custom")]
    )
    with pytest.raises(TypeError, match="'custom' is a CustomBN"):
        kab.set_inference_bn(model)
    assert type(model.get_layer("plain")) is keras.layers.BatchNormalization
    assert type(model.get_layer("custom")) is CustomBN
