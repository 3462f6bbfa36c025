"""freeze/unfreeze keep BN modes; LayerwiseLR scales learning rates, survives saving."""

import warnings

import keras
import numpy as np
import pytest

from keras_applications_bn import (
    LayerwiseLR,
    ResNet50,
    bn_layers,
    freeze,
    lr_multipliers,
    set_inference_bn,
    unfreeze,
)
from keras_applications_bn.layers import BatchNormalization

from conftest import model_state, run_python

LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def mlp(seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8,))
    x = keras.layers.Dense(6, activation="relu", name="early")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Dense(6, activation="relu", name="middle")(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="head")(x))


def data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 8)).astype("float32"), rng.integers(0, 3, n)


def weights(model):
    return {v.path: v.numpy().copy() for v in model.weights}


def fitted(optimizer, steps=1, seed=0):
    model = mlp(seed)
    model.compile(optimizer=optimizer, loss=LOSS)
    before = weights(model)
    x, y = data()
    model.fit(x, y, batch_size=64, epochs=steps, verbose=0, shuffle=False)
    return before, weights(model)


# -- layer-wise learning rates ---------------------------------------------------------


@pytest.mark.compat
def test_adam_multiplier_zero_freezes_and_point_one_equals_a_tenth_of_the_lr():
    lr = 1e-2
    before, after = fitted(LayerwiseLR(keras.optimizers.Adam(lr), {"early": 0.0, "middle": 0.1}))
    _, tenth = fitted(keras.optimizers.Adam(lr * 0.1))
    _, full = fitted(keras.optimizers.Adam(lr))
    for path in ("early/kernel", "early/bias"):
        np.testing.assert_array_equal(after[path], before[path])
    for path in ("middle/kernel", "middle/bias"):  # first update: same gradients in all three runs
        np.testing.assert_allclose(
            after[path] - before[path], tenth[path] - before[path], rtol=1e-4, atol=1e-8
        )
        assert np.abs(after[path] - before[path]).max() > 1e-4
    for path in ("head/kernel", "bn/gamma"):
        np.testing.assert_allclose(after[path], full[path], rtol=1e-6, atol=1e-7)
    # scaling the gradient instead would not change Adam's step at all
    assert not np.allclose(after["middle/kernel"], full["middle/kernel"])


@pytest.mark.compat
@pytest.mark.parametrize(
    "make",
    [
        lambda lr: keras.optimizers.SGD(lr, momentum=0.9, nesterov=True),
        lambda lr: keras.optimizers.AdamW(lr, weight_decay=0.1),
        lambda lr: keras.optimizers.RMSprop(lr, momentum=0.5),
    ],
)
def test_scaling_every_variable_equals_the_scaled_learning_rate_over_several_steps(make):
    _, scaled = fitted(LayerwiseLR(make(0.05), {"*": 0.3}), steps=4)
    _, direct = fitted(make(0.05 * 0.3), steps=4)
    for path in scaled:
        np.testing.assert_allclose(scaled[path], direct[path], rtol=2e-4, atol=1e-6)


def test_multiplier_matching_and_lr_multipliers():
    model = mlp()
    opt = LayerwiseLR(keras.optimizers.SGD(0.1), [("mid*", 0.5), ("middle", 0.0)])
    factors = {v.path: opt.multiplier(v) for v in model.trainable_variables}
    assert factors["middle/kernel"] == 0.5 and factors["early/kernel"] == 1.0
    assert lr_multipliers(model, {0: 0.01, "middle": 0.1, -1: 1.0}) == {
        "early": 0.01,
        "bn": 0.01,
        "middle": 0.1,
        "head": 1.0,
    }
    with pytest.raises(ValueError, match="No layer named"):
        lr_multipliers(model, {"nope": 1.0})


BAD_MULTIPLIERS = {
    "nan": ({"early": float("nan")}, ValueError, r"finite and >= 0, got nan for 'early'"),
    "inf": ({"early": float("inf")}, ValueError, r"finite and >= 0, got inf for 'early'"),
    "negative": ([("mid*", 0.5), ("early", -1)], ValueError, r">= 0, got -1.0 for 'early'"),
    "a string factor": (
        {"early": "abc"},
        TypeError,
        r"the factor for 'early' must be a number, got 'abc'",
    ),
    "a bool factor": (
        {"early": True},
        TypeError,
        r"the factor for 'early' must be a number, got True",
    ),
    "a number key": ({0: 0.5}, TypeError, r"keys must be layer names or patterns \(str\), got 0"),
    "None": (None, TypeError, r"`multipliers` must be a dict .* got None"),
    "a string": ("conv1", TypeError, r"`multipliers` must be a dict .* got 'conv1'"),
    "a list of names": (["early", "middle"], TypeError, r"pairs; got the item 'early'"),
    "a short pair": ([("early",)], TypeError, r"pairs; got the item \('early',\)"),
}


@pytest.mark.parametrize("case", BAD_MULTIPLIERS, ids=str)
def test_layerwise_lr_and_lr_multipliers_refuse_bad_factors(case):
    multipliers, error, match = BAD_MULTIPLIERS[case]
    with pytest.raises(error, match=match):
        LayerwiseLR(keras.optimizers.SGD(), multipliers)
    if isinstance(multipliers, dict) and all(isinstance(k, str) for k in multipliers):
        with pytest.raises(error, match=match.replace("multipliers", "starts")):
            lr_multipliers(mlp(), multipliers)


def test_layerwise_lr_refuses_keywords_it_would_drop():
    with pytest.raises(ValueError, match=r"learning rate from `optimizer`.*learning_rate=0.1"):
        LayerwiseLR(keras.optimizers.SGD(), {"early": 0.5}, learning_rate=0.1)
    with pytest.raises(ValueError, match=r"does not take \['weight_decay'\]"):
        LayerwiseLR(keras.optimizers.SGD(), {"early": 0.5}, weight_decay=0.1)


def test_layerwise_lr_warns_about_a_pattern_that_matches_no_layer():
    x, y = data(8)
    model = mlp()
    model.compile(
        optimizer=LayerwiseLR(keras.optimizers.SGD(0.1), {"Early*": 0.0, "mid*": 0.5, "hed": 0}),
        loss=LOSS,
    )
    with pytest.warns(UserWarning, match=r"'Early\*', 'hed' match no layer") as record:
        model.fit(x, y, verbose=0)
    assert "mid*" not in str(record[0].message)
    model = mlp()
    model.compile(
        optimizer=LayerwiseLR(keras.optimizers.SGD(0.1), {"early": 0.0, "mid*": 0.5}), loss=LOSS
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(x, y, verbose=0)


@pytest.mark.parametrize(
    "starts,error,match",
    [
        (
            ["early"],
            TypeError,
            r"`starts` must be a dict \{first_layer: multiplier\}.*got \['early'\]",
        ),
        ({"early": 0.1, 0: 1.0}, ValueError, r"'early' and 0 name the same layer"),
        ({True: 0.1}, TypeError, r"`starts` must be a layer name or an index, got True"),
    ],
    ids=["list", "same layer twice", "bool"],
)
def test_lr_multipliers_refuses_bad_starts(starts, error, match):
    with pytest.raises(error, match=match):
        lr_multipliers(mlp(), starts)


@pytest.mark.compat
def test_layerwise_lr_counts_steps_with_the_inner_optimizer():
    """The wrapper's ``iterations`` is the inner optimizer's, even after something
    assigns it (Keras before 3.5 does, in ``Optimizer.__init__``)."""
    inner = keras.optimizers.SGD(0.1)
    optimizer = LayerwiseLR(inner, {"early": 0.5})
    optimizer.iterations = keras.Variable(7, dtype="int64", trainable=False)
    assert optimizer.iterations is inner.iterations
    model = mlp()
    model.compile(optimizer=optimizer, loss=LOSS)
    x, y = data()
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert int(optimizer.iterations.numpy()) == int(inner.iterations.numpy()) == 2


@pytest.mark.compat
@pytest.mark.slow
def test_layerwise_lr_is_saved_with_the_model_and_applies_after_loading(tmp_path):
    path = tmp_path / "m.keras"
    model = mlp()
    model.compile(
        optimizer=LayerwiseLR(keras.optimizers.Adam(1e-2), {"early": 0.0, "middle": 0.1}), loss=LOSS
    )
    x, y = data()
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    model.save(path)
    np.savez(tmp_path / "xy.npz", x=x, y=y)
    run_python(f"""
import numpy as np, keras
import keras_applications_bn
m = keras.saving.load_model({str(path)!r})
opt = m.optimizer
assert type(opt).__name__ == "LayerwiseLR", type(opt)
assert opt.multipliers == [("early", 0.0), ("middle", 0.1)], opt.multipliers
assert int(opt.iterations.numpy()) == 2
d = np.load({str(tmp_path / "xy.npz")!r})
before = {{v.path: v.numpy().copy() for v in m.weights}}
m.fit(d["x"], d["y"], batch_size=32, epochs=1, verbose=0)
after = {{v.path: v.numpy() for v in m.weights}}
assert np.array_equal(before["early/kernel"], after["early/kernel"])
step_middle = np.abs(after["middle/kernel"] - before["middle/kernel"]).max()
step_head = np.abs(after["head/kernel"] - before["head/kernel"]).max()
assert 0 < step_middle < 0.2 * step_head, (step_middle, step_head)
""")


# -- freeze / unfreeze ---------------------------------------------------------------


def small_resnet(inference_bn):
    keras.utils.set_random_seed(0)
    return ResNet50(
        weights=None,
        include_top=False,
        pooling="avg",
        input_shape=(32, 32, 3),
        inference_bn=inference_bn,
    )


def names(layers):
    return [layer.name for layer in layers]


@pytest.mark.compat
def test_freeze_until_keeps_batch_statistics_mode_and_freezes_gamma_beta(tmp_path):
    base = small_resnet(inference_bn=False)
    inputs = keras.Input((32, 32, 3))
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(base(inputs)))
    frozen = freeze(model, until="conv2_block1_out")
    assert names(frozen)[:2] == ["conv1_pad", "conv1_conv"]
    assert names(frozen)[-1] == "conv2_block1_out"
    bn = base.get_layer("conv1_bn")
    assert bn.trainable and not bn.inference_mode and not bn.affine_trainable
    assert (
        not base.get_layer("conv1_conv").trainable
        and base.get_layer("conv2_block2_1_conv").trainable
    )
    trainable = {v.path for v in model.trainable_weights}
    assert "conv1_bn/gamma" not in trainable and "conv2_block2_1_bn/gamma" in trainable
    # in fit the frozen BN still normalises with batch statistics and re-learns them
    model.compile(optimizer="sgd", loss=LOSS)
    x = np.random.default_rng(0).normal(5, 3, (16, 32, 32, 3)).astype("float32")
    gamma = bn.gamma.numpy().copy()
    model.fit(x, np.zeros(16), batch_size=8, epochs=1, verbose=0)
    np.testing.assert_array_equal(bn.gamma.numpy(), gamma)
    assert not np.allclose(bn.moving_mean.numpy(), 0.0)
    # and that survives saving
    model.save(tmp_path / "f.keras")
    loaded = keras.saving.load_model(tmp_path / "f.keras")
    lbn = loaded.get_layer("resnet50").get_layer("conv1_bn")
    assert lbn.trainable and not lbn.affine_trainable and not lbn.gamma.trainable
    lbn.trainable = True  # Keras' setter must not silently re-enable gamma/beta
    assert not lbn.gamma.trainable


@pytest.mark.compat
def test_freeze_pinned_layers_stay_pinned_and_index_works():
    base = small_resnet(inference_bn=True)
    frozen = freeze(base, until=3)
    assert names(frozen) == ["conv1_pad", "conv1_conv", "conv1_bn", "conv1_relu"]
    bn = base.get_layer("conv1_bn")
    assert bn.inference_mode and not bn.trainable
    unfreeze(base)
    assert bn.inference_mode and bn.trainable and bn.gamma.trainable
    assert all(layer.trainable for layer in base.layers)
    with pytest.raises(IndexError):
        freeze(base, until=1000)


@pytest.mark.compat
def test_unfreeze_from_start_inside_a_frozen_keras_model_pins_its_bn_layers():
    keras.utils.set_random_seed(0)
    base = keras.applications.MobileNetV2(
        weights=None, include_top=False, pooling="avg", input_shape=(32, 32, 3)
    )
    base.trainable = False  # Keras 3: every BN now runs in inference mode
    inputs = keras.Input((32, 32, 3))
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(base(inputs)))
    unfrozen = unfreeze(model, start="block_16_expand")
    assert names(unfrozen)[-1] == "head"
    assert base.trainable and not base.get_layer("block_15_project").trainable
    assert (
        not base.get_layer("bn_Conv1").trainable
        and type(base.get_layer("bn_Conv1")) is keras.layers.BatchNormalization
    )
    late = base.get_layer("block_16_expand_BN")
    assert isinstance(late, BatchNormalization) and late.inference_mode and late.trainable
    trainable = {v.path.split("/")[0] for v in model.trainable_weights}
    assert trainable == {
        "block_16_expand",
        "block_16_expand_BN",
        "block_16_depthwise",
        "block_16_depthwise_BN",
        "block_16_project",
        "block_16_project_BN",
        "Conv_1",
        "Conv_1_bn",
        "head",
    }
    # every BN still uses its moving statistics: training=True output == inference output
    x = np.random.default_rng(1).uniform(0, 1, (4, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(
        model(x, training=True), model(x, training=False), rtol=1e-5, atol=1e-5
    )
    assert len(bn_layers(model)) == 52


# -- refused calls change nothing ------------------------------------------------------


class ForeignBN(keras.layers.BatchNormalization):
    """A BatchNormalization subclass of someone else's: it cannot be converted."""


def foreign_net(frozen):
    """Dense c1, a foreign BN bn1, Keras' BN bn2, Dense head; with ``frozen``, c1 and
    bn1 are trainable=False (bn1 then uses its moving statistics)."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8,))
    x = keras.layers.Dense(6, name="c1")(inputs)
    x = ForeignBN(name="bn1")(x)
    x = keras.layers.BatchNormalization(name="bn2")(x)
    model = keras.Model(inputs, keras.layers.Dense(3, name="head")(x))
    if frozen:
        model.get_layer("c1").trainable = False
        model.get_layer("bn1").trainable = False
    return model


def nested(model):
    inputs = keras.Input((8,))
    return keras.Model(inputs, keras.layers.Dense(2, name="outer_head")(model(inputs)))


REFUSED = {
    "freeze, foreign BN in batch mode": (
        False,
        lambda m: freeze(m),
        TypeError,
        "'bn1' is a ForeignBN",
    ),
    "freeze until it": (False, lambda m: freeze(m, until="bn1"), TypeError, "'bn1' is a ForeignBN"),
    "freeze nested": (False, lambda m: freeze(nested(m)), TypeError, "'bn1' is a ForeignBN"),
    "unfreeze, foreign BN frozen": (True, lambda m: unfreeze(m), TypeError, "'bn1' is a ForeignBN"),
    "unfreeze from it": (
        True,
        lambda m: unfreeze(m, start="bn1"),
        TypeError,
        "'bn1' is a ForeignBN",
    ),
    "set_inference_bn": (
        False,
        lambda m: set_inference_bn(m, True),
        TypeError,
        "'bn1' is a ForeignBN",
    ),
    "freeze until a typo": (
        False,
        lambda m: freeze(m, until="Bn2"),
        ValueError,
        "No layer named 'Bn2'",
    ),
    "unfreeze from an index out of range": (
        True,
        lambda m: unfreeze(m, start=9),
        IndexError,
        "out of range",
    ),
    "freeze a string": (
        False,
        lambda m: freeze("x"),
        TypeError,
        "`model` must be a Keras model or layer, got 'x'",
    ),
    "unfreeze None": (
        True,
        lambda m: unfreeze(None),
        TypeError,
        "`model` must be a Keras model or layer, got None",
    ),
    "lr_multipliers None": (
        True,
        lambda m: lr_multipliers(None, {}),
        TypeError,
        "`model` must be a Keras model",
    ),
}


@pytest.mark.parametrize("case", REFUSED, ids=str)
def test_a_refused_call_leaves_the_model_exactly_as_it_was(case):
    frozen, call, error, match = REFUSED[case]
    model = foreign_net(frozen)
    before = model_state(model)
    with pytest.raises(error, match=match):
        call(model)
    assert model_state(model) == before


# -- called from a callback during fit ------------------------------------------------


def conv_net(frozen_until=None):
    """conv + BN twice and a head, on 8x8 images; with ``frozen_until``, frozen up to there."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="c1")(inputs)
    x = keras.layers.BatchNormalization(name="b1")(x)
    x = keras.layers.Conv2D(4, 3, padding="same", name="c2")(keras.layers.ReLU(name="r1")(x))
    x = keras.layers.BatchNormalization(name="b2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(x))
    if frozen_until is not None:
        freeze(model, until=frozen_until)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=LOSS)
    return model


ON_EPOCH_END = {
    "set_inference_bn": (None, lambda m: set_inference_bn(m)),
    "set_inference_bn(False)": (None, lambda m: set_inference_bn(m, False)),
    "freeze": (None, lambda m: freeze(m, until="b1")),
    "unfreeze a model frozen before its optimizer was built": ("b2", lambda m: unfreeze(m)),
}


@pytest.mark.parametrize("case", ON_EPOCH_END, ids=str)
def test_pinning_freezing_and_unfreezing_from_a_callback_apply_from_the_next_epoch(case):
    frozen_until, tool = ON_EPOCH_END[case]
    model = conv_net(frozen_until)
    rng = np.random.default_rng(0)
    x, y = rng.normal(1.0, 2.0, (16, 8, 8, 3)).astype("float32"), rng.integers(0, 2, 16)
    snapshots = []

    def on_epoch_end(epoch, logs):
        snapshots.append(weights(model))
        if epoch == 0:
            tool(model)

    model.fit(
        x,
        y,
        batch_size=8,
        epochs=2,
        verbose=0,
        shuffle=False,
        callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=on_epoch_end)],
    )
    trained = {
        path for path in snapshots[0] if not np.array_equal(snapshots[0][path], snapshots[1][path])
    }
    if case == "set_inference_bn":  # pinned: moving statistics no longer change, gamma still trains
        assert "b1/moving_mean" not in trained and "b1/gamma" in trained
    elif case == "set_inference_bn(False)":
        assert "b1/moving_mean" in trained
    elif case == "freeze":
        assert "c1/kernel" not in trained and "b1/gamma" not in trained and "c2/kernel" in trained
        assert "b1/moving_mean" in trained  # b1 keeps normalising with batch statistics
    else:  # the layers unfrozen at the end of epoch 1 train in epoch 2
        assert {"c1/kernel", "b1/gamma", "c2/kernel"} <= trained


def test_unfreeze_lets_the_same_optimizer_train_the_new_weights_without_recompiling():
    model = conv_net(frozen_until="b2")
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(8, 8, 8, 3)).astype("float32"), rng.integers(0, 2, 8)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    moments = {v.path: v.numpy().copy() for v in model.optimizer.variables}
    kernel = model.get_layer("c1").kernel.numpy().copy()
    unfreeze(model)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert not np.array_equal(model.get_layer("c1").kernel.numpy(), kernel)
    assert int(model.optimizer.iterations.numpy()) == 2  # the optimizer's state was kept
    head_moment = next(path for path in moments if "head_kernel" in path and "momentum" in path)
    assert not np.array_equal(moments[head_moment], 0.0)


def test_layerwise_lr_says_which_argument_is_which():
    factors = {"early": 0.1}
    with pytest.raises(
        TypeError,
        match=r"LayerwiseLR\(optimizer, multipliers\) takes a Keras optimizer first "
        r"and the multipliers second; `optimizer` got \{'early': 0.1\} of type dict",
    ):
        LayerwiseLR(factors)
    with pytest.raises(TypeError, match=r"`optimizer` got 'adam' of type str"):
        LayerwiseLR("adam", factors)
    with pytest.raises(TypeError, match=r"`multipliers` must be a dict .*got None"):
        LayerwiseLR(keras.optimizers.Adam())
    with pytest.raises(TypeError, match="`name` must be a string or None, got 3"):
        LayerwiseLR(keras.optimizers.Adam(), factors, name=3)
    restored = LayerwiseLR.from_config(LayerwiseLR(keras.optimizers.Adam(), factors).get_config())
    assert restored.multipliers == [("early", 0.1)]
