"""AdaptBNStatistics (BN statistics after weight averaging) and GradualUnfreezing."""

import keras
import numpy as np
import pytest

import keras_applications_bn as kabn
from keras_applications_bn import (
    AdaptBNStatistics,
    GradualUnfreezing,
    LayerwiseLR,
    adapt_bn_statistics,
    bn_layers,
)
from keras_applications_bn.layers import BatchNormalization


def net(pinned_first=False):
    """conv-BN x3 + head: a tiny 'backbone' with three stages."""
    keras.utils.set_random_seed(7)
    inputs = keras.Input((10, 10, 3))
    x = inputs
    for i in (1, 2, 3):
        x = keras.layers.Conv2D(4, 3, padding="same", name=f"stage{i}_conv")(x)
        bn = BatchNormalization(name=f"stage{i}_bn", inference_mode=pinned_first and i == 1)
        x = keras.layers.Activation("relu", name=f"stage{i}_relu")(bn(x))
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="head")(x))


def data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(2.0, 3.0, (n, 10, 10, 3)).astype("float32"), rng.integers(0, 3, n)


def stats(model):
    return [
        (layer.moving_mean.numpy().copy(), layer.moving_variance.numpy().copy())
        for layer in bn_layers(model)
    ]


def direct_adapt(model, x):
    """adapt_bn_statistics on a copy of ``model`` with its current weights."""
    twin = keras.models.clone_model(model)
    twin.set_weights(model.get_weights())
    adapt_bn_statistics(twin, x, batch_size=8)
    return stats(twin)


def assert_same_stats(a, b):
    for (am, av), (bm, bv) in zip(a, b):
        np.testing.assert_allclose(am, bm, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(av, bv, rtol=1e-5, atol=1e-6)


# -- AdaptBNStatistics --------------------------------------------------------


def test_after_ema_statistics_equal_a_direct_adapt_on_the_final_weights():
    model = net()
    x, y = data()
    model.compile(
        keras.optimizers.SGD(0.1, use_ema=True, ema_momentum=0.6), "sparse_categorical_crossentropy"
    )
    recorded = []
    record = keras.callbacks.LambdaCallback(on_train_end=lambda logs: recorded.append(stats(model)))
    callback = AdaptBNStatistics(x, batch_size=8)
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=2,
        verbose=0,
        validation_data=(x, y),
        callbacks=[record, callback, keras.callbacks.SwapEMAWeights(), record],
    )
    assert callback.samples == len(x)
    # the EMA weights are in place (fit puts them there before on_train_end)...
    ema = model.optimizer._model_variables_moving_average
    for variable, average in zip(model.optimizer._trainable_variables, ema):
        np.testing.assert_allclose(variable.numpy(), average.numpy(), rtol=1e-6)
    # ...and the statistics are those of the EMA weights, not the training run's averages
    assert_same_stats(stats(model), direct_adapt(model, x))
    assert_same_stats(recorded[1], stats(model))  # re-estimated before later callbacks ran
    assert not np.allclose(
        recorded[0][2][1], recorded[1][2][1], rtol=0.05
    )  # the run's own averages differ


def test_epoch_end_with_swap_on_epoch_adapts_the_ema_weights_every_epoch():
    model = net(pinned_first=True)
    x, y = data()
    model.compile(
        keras.optimizers.SGD(0.1, use_ema=True, ema_momentum=0.5), "sparse_categorical_crossentropy"
    )
    seen = []

    def check(epoch, logs):  # runs after AdaptBNStatistics, with the EMA weights in the model
        seen.append(epoch)
        assert_same_stats(stats(model), direct_adapt(model, x[:16]))

    model.fit(
        x,
        y,
        batch_size=8,
        epochs=2,
        verbose=0,
        callbacks=[
            keras.callbacks.SwapEMAWeights(swap_on_epoch=True),
            AdaptBNStatistics(x, steps=2, when="epoch_end", batch_size=8),
            keras.callbacks.LambdaCallback(on_epoch_end=check),
        ],
    )
    assert seen == [0, 1]
    assert model.get_layer("stage1_bn").inference_mode  # modes untouched


def test_adapt_callback_validates_its_arguments():
    x, _ = data(4)
    for kwargs, match in (
        ({"when": "batch_end"}, "when"),
        ({"steps": 0}, "steps"),
        ({"prior": -1}, "prior"),
        ({"batch_size": 0}, "batch_size"),
    ):
        with pytest.raises(ValueError, match=match):
            AdaptBNStatistics(x, **kwargs)
    with pytest.raises(TypeError, match="`data` must be .*got None"):
        AdaptBNStatistics(None)
    # what adapt_bn_statistics would refuse only after training: refused up front
    for kwargs, error in (
        ({"prior": float("inf")}, ValueError),
        ({"prior": "8"}, TypeError),
        ({"steps": 2.0}, TypeError),
        ({"steps": True}, TypeError),
        ({"verbose": "loud"}, TypeError),
        ({"verbose": 2}, ValueError),
        ({"when": 1}, TypeError),
        ({"batch_size": 8.0}, TypeError),
    ):
        with pytest.raises(error, match=next(iter(kwargs))):
            AdaptBNStatistics(x, **kwargs)


@pytest.mark.parametrize(
    "bad, error, match",
    [
        ("abc", TypeError, "`data` must be .*got 'abc'"),
        (3, TypeError, "`data` must be .*got 3 of type int"),
        ("infinite dataset", ValueError, "infinite tf.data.Dataset.*pass `steps`"),
    ],
    ids=["a string", "a number", "an infinite dataset"],
)
def test_adapt_callback_refuses_bad_data_at_construction(bad, error, match):
    if bad == "infinite dataset":
        import tensorflow as tf

        bad = tf.data.Dataset.from_tensor_slices(data(8)[0]).batch(4).repeat()
    with pytest.raises(error, match=match):
        AdaptBNStatistics(bad)


def test_adapt_callback_refuses_a_generator_read_every_epoch_and_takes_a_function():
    x, y = data(16)

    def batches():
        yield x[:8]
        yield x[8:]

    with pytest.raises(
        ValueError,
        match=r'when="epoch_end".*read only once.*a function that returns a new generator',
    ):
        AdaptBNStatistics(batches(), when="epoch_end")
    with pytest.raises(ValueError, match="read only once"):
        AdaptBNStatistics(iter([x]), when="epoch_end")
    AdaptBNStatistics(batches(), when="train_end")  # read once: accepted
    # a function that returns a new generator is called at every re-estimation
    model = net()
    model.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
    callback = AdaptBNStatistics(batches, when="epoch_end")
    seen = []
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=2,
        verbose=0,
        callbacks=[
            callback,
            keras.callbacks.LambdaCallback(
                on_epoch_end=lambda e, logs: seen.append(callback.samples)
            ),
        ],
    )
    assert seen == [16, 16]
    assert_same_stats(stats(model), direct_adapt(model, x))


@pytest.mark.parametrize("verbose", [1, True, np.int64(1), np.bool_(True)], ids=repr)
def test_callbacks_take_numpy_scalars_and_bools_for_verbose(verbose, capsys):
    x, y = data(8)
    model = net()
    kabn.freeze(model, until="stage2_relu")
    model.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=2,
        verbose=0,
        callbacks=[
            AdaptBNStatistics(
                x, steps=np.int64(1), batch_size=np.int64(8), prior=np.float32(2.0), verbose=verbose
            ),
            GradualUnfreezing({np.int64(1): np.int64(3)}, lr_factor=None, verbose=verbose),
        ],
    )
    out = capsys.readouterr().out
    assert "re-estimated on 8 samples" in out and "epoch 2: unfroze 2 layer(s)" in out


# -- GradualUnfreezing ----------------------------------------------------------


def kernels(model):
    return {
        name: model.get_layer(name).kernel.numpy().copy()
        for name in ("stage1_conv", "stage2_conv", "stage3_conv", "head")
    }


def fit_recording(model, callback, epochs=3):
    x, y = data()
    snapshots = [kernels(model)]
    bn_stats = []
    model.fit(
        x,
        y,
        batch_size=24,
        epochs=epochs,
        verbose=0,
        callbacks=[
            callback,
            keras.callbacks.LambdaCallback(
                on_epoch_end=lambda e, logs: (
                    snapshots.append(kernels(model)),
                    bn_stats.append(stats(model)),
                )
            ),
        ],
    )
    return snapshots, bn_stats


def changed(snapshots, epoch):
    """Layers whose kernel changed during ``epoch``."""
    before, after = snapshots[epoch], snapshots[epoch + 1]
    return {name for name in before if not np.array_equal(before[name], after[name])}


@pytest.mark.parametrize("second_fit", [False, True], ids=["first-fit", "optimizer-already-built"])
def test_stages_start_training_at_their_epoch_without_recompiling(second_fit):
    model = net(pinned_first=True)
    kabn.freeze(model, until="stage3_relu")
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    if second_fit:  # the head alone first: the optimizer is built for the head only
        x, y = data()
        model.fit(x, y, batch_size=24, epochs=1, verbose=0)
        assert len(model.optimizer._trainable_variables) == 2
    callback = GradualUnfreezing({1: "stage3_conv", 2: ["stage2_*"]})
    snapshots, bn_stats = fit_recording(model, callback, epochs=4)
    assert changed(snapshots, 0) == {"head"}
    assert changed(snapshots, 1) == {"head", "stage3_conv"}
    assert changed(snapshots, 2) == changed(snapshots, 3) == {"head", "stage2_conv", "stage3_conv"}
    assert callback.unfrozen == {1: ["stage3_conv", "stage3_bn"], 2: ["stage2_conv", "stage2_bn"]}
    # every BN layer kept its mode: frozen/pinned ones never update their statistics
    assert (
        model.get_layer("stage1_bn").inference_mode and not model.get_layer("stage1_bn").trainable
    )
    for name in ("stage2_bn", "stage3_bn"):
        layer = model.get_layer(name)
        assert layer.trainable and layer.affine_trainable and not layer.inference_mode
    assert all(np.array_equal(a[0][0], b[0][0]) for a, b in zip(bn_stats, bn_stats[1:]))
    # gamma of the stage-2 BN trains from epoch 2 on; the optimizer knows every variable once
    paths = [v.path for v in model.optimizer._trainable_variables]
    assert len(paths) == len(set(paths)) == 10
    names = [v.path for v in model.optimizer.variables]
    assert len(names) == len(set(names))


def test_lr_factor_scales_the_first_update_of_newly_unfrozen_layers():
    deltas = {}
    for factor in (None, 0.25):
        model = net()
        kabn.freeze(model, until="stage3_relu")
        model.compile(
            LayerwiseLR(keras.optimizers.SGD(0.05), {}), "sparse_categorical_crossentropy"
        )
        snapshots, _ = fit_recording(
            model, GradualUnfreezing({1: "stage3_conv"}, lr_factor=factor), epochs=2
        )
        deltas[factor] = {
            name: snapshots[2][name] - snapshots[1][name] for name in ("stage3_conv", "head")
        }
    np.testing.assert_allclose(
        deltas[0.25]["stage3_conv"], 0.25 * deltas[None]["stage3_conv"], rtol=1e-3, atol=1e-7
    )
    np.testing.assert_allclose(deltas[0.25]["head"], deltas[None]["head"], rtol=1e-3, atol=1e-7)
    assert np.abs(deltas[None]["stage3_conv"]).max() > 1e-4


def test_gradual_unfreezing_validates_schedule_and_needs_layerwise_lr_for_a_factor():
    with pytest.raises(TypeError, match="schedule"):
        GradualUnfreezing([1, 2])
    with pytest.raises(ValueError, match="epochs"):
        GradualUnfreezing({-1: "head"})
    with pytest.raises(TypeError, match="schedule"):
        GradualUnfreezing({1: 3.5})
    with pytest.raises(TypeError, match="`schedule`: epochs .* got 1.0 of type float"):
        GradualUnfreezing({1.0: "head"})
    with pytest.raises(TypeError, match="`verbose` must be 0 or 1, got 'loud'"):
        GradualUnfreezing({1: "head"}, verbose="loud")
    with pytest.raises(ValueError, match="lr_factor"):
        GradualUnfreezing({1: "head"}, lr_factor=0)
    with pytest.raises(ValueError, match="lr_factor"):
        GradualUnfreezing({1: "head"}, lr_factor=float("inf"))
    model = net()
    model.compile(keras.optimizers.SGD(), "mse")
    x, y = data(4)
    with pytest.raises(ValueError, match="LayerwiseLR"):
        model.fit(
            x,
            np.zeros((4, 3)),
            epochs=1,
            verbose=0,
            callbacks=[GradualUnfreezing({1: "head"}, lr_factor=0.1)],
        )
    with pytest.raises(ValueError, match="nothing_\\*"):
        model.fit(
            x,
            np.zeros((4, 3)),
            epochs=1,
            verbose=0,
            callbacks=[GradualUnfreezing({1: ["nothing_*"]})],
        )


def test_extending_a_built_optimizer_keeps_its_state():
    model = net()
    kabn.freeze(model, until="stage3_relu")
    model.compile(keras.optimizers.Adam(0.01, use_ema=True), "sparse_categorical_crossentropy")
    x, y = data()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    before = {v.path: v.numpy().copy() for v in model.optimizer.variables}
    callback = GradualUnfreezing({1: ["stage3_*"]})
    callback.set_model(model)
    callback.on_train_begin()
    after = {v.path: v for v in model.optimizer.variables}
    assert len(after) == len(model.optimizer.variables)  # no stale duplicates
    assert set(before) < set(after)
    for path, value in before.items():  # iterations, head's moments and averages carried over
        np.testing.assert_array_equal(after[path].numpy(), value)
    assert int(model.optimizer.iterations.numpy()) == 3
    kernel = model.get_layer("stage3_conv").kernel
    new = {path: v.numpy() for path, v in after.items() if path not in before}
    assert any(np.array_equal(v, kernel.numpy()) for p, v in new.items() if p.endswith("average"))
    assert all(not v.any() for p, v in new.items() if p.endswith(("momentum", "velocity")))
    # the next fit trains with the optimizer's current slots, not those it replaced
    model.fit(x, y, batch_size=24, epochs=1, verbose=0, callbacks=[callback])
    head_momentum = [p for p in before if "head_kernel" in p and p.endswith("momentum")]
    assert head_momentum and not np.array_equal(
        after[head_momentum[0]].numpy(), before[head_momentum[0]]
    )


def test_gradual_unfreezing_under_mixed_float16_extends_the_loss_scale_optimizer():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = net()
        kabn.freeze(model, until="stage3_relu")
        optimizer = keras.optimizers.LossScaleOptimizer(
            keras.optimizers.Adam(0.01), initial_scale=64.0
        )
        model.compile(optimizer, "sparse_categorical_crossentropy")
        x, y = data()
        model.fit(x, y, batch_size=24, epochs=1, verbose=0)  # built for the head only
        scale, steps = float(optimizer.dynamic_scale.numpy()), int(optimizer.iterations.numpy())
        callback = GradualUnfreezing({1: ["stage3_*"]})
        callback.set_model(model)
        callback.on_train_begin()
        assert (
            float(optimizer.dynamic_scale.numpy()) == scale
            and int(optimizer.iterations.numpy()) == steps
        )
        snapshots, _ = fit_recording(model, callback, epochs=2)
        assert changed(snapshots, 0) == {"head"}
        assert changed(snapshots, 1) == {"head", "stage3_conv"}
        assert model.get_layer("stage3_conv").kernel.dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")
