"""adapt_bn_statistics' pass on any backend: exact moments, whichever way a layer is normalised.

The pass returns every layer's moments in one vector per batch and combines
them on the host for all channels at once; on TensorFlow a layer
whose inputs allow it is normalised by its fused kernel, and on JAX the
step is one ``jax.jit`` function with the variables as arguments. These cases
check that a layer called twice, layers the fused kernel does not take (a tiny
epsilon, a dense BN on TensorFlow, masks), uneven batches and a second pass after
the weights changed all give the exact float64 statistics. Run by the TensorFlow
lane (``tests/test_adapt_passes.py``) and by ``make test-backends``.
"""

import functools

import keras
import numpy as np
import pytest

import keras_applications_bn as kab
from keras_applications_bn.batchnorm import adapt as adapt_module
from keras_applications_bn.batchnorm import step as step_module
from keras_applications_bn.layers import BatchNormalization


def numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def branching_network():
    """BN layers whose inputs no BN changes: one shared by two convolutions (called
    twice per batch), one with an epsilon below TensorFlow's fused kernel's least,
    and one after a dense layer (rank 2)."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input((6, 6, 3))
    a = keras.layers.Conv2D(4, 3, padding="same", name="conv_a")(inputs)
    b = keras.layers.Conv2D(4, 1, name="conv_b")(inputs)
    shared = BatchNormalization(name="shared_bn")
    tiny = BatchNormalization(epsilon=1e-6, name="tiny_epsilon_bn")(a)
    dense = keras.layers.Dense(5, name="dense")(keras.layers.Flatten()(inputs))
    outputs = [
        keras.layers.Add()([shared(a), shared(b), tiny]),
        BatchNormalization(name="dense_bn")(dense),
    ]
    return keras.Model(inputs, outputs)


def pixels(n, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.gamma(2.0, 30.0, (n, 6, 6, 3)) + 20).astype("float32")


def expected_moments(model, x):
    """Float64 mean and variance over all samples of what each BN layer receives."""
    outputs = ["conv_a", "conv_b", "dense"]
    probe = keras.Model(model.inputs, [model.get_layer(name).output for name in outputs])
    a, b, dense = (np.asarray(o, np.float64) for o in probe.predict(x, batch_size=64, verbose=0))
    a, b = a.reshape(-1, 4), b.reshape(-1, 4)
    shared = np.concatenate([a, b])
    return {
        "shared_bn": (shared.mean(0), shared.var(0)),
        "tiny_epsilon_bn": (a.mean(0), a.var(0)),
        "dense_bn": (dense.mean(0), dense.var(0)),
    }


def assert_statistics(model, expected):
    for name, (mean, variance) in expected.items():
        layer = model.get_layer(name)
        # float32 rounding of the forward pass and of the batch moments
        np.testing.assert_allclose(
            numpy(layer.moving_mean), mean, rtol=1e-5, atol=1e-4, err_msg=name
        )
        np.testing.assert_allclose(numpy(layer.moving_variance), variance, rtol=1e-5, err_msg=name)


def test_every_path_gives_the_exact_moments_over_uneven_batches():
    model = branching_network()
    x = pixels(21)  # batches of 8, 8 and 5
    assert kab.adapt_bn_statistics(model, x, batch_size=8, verbose=0) == 21
    expected = expected_moments(model, x)
    assert_statistics(model, expected)
    # a layer called twice gets the moments of both calls, not those of the last one
    shared = numpy(model.get_layer("shared_bn").moving_variance)
    assert not np.allclose(shared, expected["tiny_epsilon_bn"][1], rtol=1e-2)


def test_a_second_pass_sees_the_weights_as_they_are_now():
    """The compiled step is cached per model; it must read the weights at each
    pass (a ``jax.jit`` that closed over them would keep the first pass's)."""
    model = branching_network()
    x = pixels(16, seed=1)
    kab.adapt_bn_statistics(model, x, batch_size=8, verbose=0)
    before = numpy(model.get_layer("shared_bn").moving_mean).copy()
    for name in ("conv_a", "conv_b", "dense"):
        layer = model.get_layer(name)
        layer.kernel.assign(2.0 * numpy(layer.kernel) + 0.05)
        layer.bias.assign(numpy(layer.bias) + 1.0)
    kab.adapt_bn_statistics(model, x, batch_size=8, verbose=0)
    assert_statistics(model, expected_moments(model, x))
    assert not np.allclose(numpy(model.get_layer("shared_bn").moving_mean), before, rtol=0.1)


def test_the_eager_step_gives_the_compiled_steps_statistics(monkeypatch):
    """The step can run uncompiled (a pass whose moments are combined across
    processes on the host needs it); both give the same statistics."""
    x = pixels(21, seed=2)
    compiled = branching_network()
    kab.adapt_bn_statistics(compiled, x, batch_size=8, verbose=0)
    eager = branching_network()
    step = functools.partial(adapt_module._adapting_step, compile=False)
    monkeypatch.setattr(adapt_module, "_adapting_step", step)
    kab.adapt_bn_statistics(eager, x, batch_size=8, verbose=0)
    for a, b in zip(kab.bn_layers(compiled), kab.bn_layers(eager)):
        for name in ("moving_mean", "moving_variance"):
            np.testing.assert_allclose(
                numpy(getattr(b, name)), numpy(getattr(a, name)), rtol=1e-5, atol=1e-6
            )
    assert_statistics(eager, expected_moments(eager, x))


def test_masked_positions_are_left_out_and_an_empty_batch_adds_nothing():
    keras.utils.set_random_seed(4)
    inputs = keras.Input((5,), dtype="int32")
    embedded = keras.layers.Embedding(10, 3, mask_zero=True, name="embedding")(inputs)
    outputs = BatchNormalization(name="masked_bn")(embedded)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(5)
    tokens = rng.integers(1, 10, (12, 5)).astype("int32")
    tokens[:4, 3:] = 0  # padding in the first batch
    tokens[4:8] = 0  # a batch of padding only: no values reach the layer
    assert kab.adapt_bn_statistics(model, tokens, batch_size=4, verbose=0) == 12
    table = numpy(model.get_layer("embedding").embeddings).astype(np.float64)
    values = table[tokens[tokens != 0]]
    layer = model.get_layer("masked_bn")
    np.testing.assert_allclose(numpy(layer.moving_mean), values.mean(0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(numpy(layer.moving_variance), values.var(0), rtol=1e-5)


@pytest.mark.parametrize("bad", ["conv_b", "dense"])
def test_a_non_finite_batch_names_the_first_layer_it_reaches(bad):
    model = branching_network()
    layer = model.get_layer(bad)
    before = [numpy(v).copy() for v in model.weights]
    layer.bias.assign(np.full(layer.bias.shape, np.inf, "float32"))
    name = "shared_bn" if bad == "conv_b" else "dense_bn"
    with pytest.raises(ValueError, match=rf"batch 0 gave a non-finite .*'{name}'"):
        kab.adapt_bn_statistics(model, pixels(8), batch_size=8, verbose=0)
    layer.bias.assign(before[[v.path for v in model.weights].index(layer.bias.path)])
    for value, variable in zip(before, model.weights):
        np.testing.assert_array_equal(numpy(variable), value)


def test_one_batch_is_in_flight_while_the_last_one_is_added(monkeypatch):
    """The pass dispatches batch i + 1 before it reads batch i's moments back (so an
    asynchronous device, JAX's or a GPU, is not idle while the host adds them, as
    ``predict`` keeps its batches going); what it adds, and the index it names for a
    non-finite batch, are those of the batch the moments came from."""
    events = []
    add_batch = adapt_module._add_batch

    def spy(moments, vector, layout, index, names):
        events.append(f"add {index}")
        return add_batch(moments, vector, layout, index, names)

    monkeypatch.setattr(adapt_module, "_add_batch", spy)
    x = pixels(24, seed=6)

    def batches(x):
        for i in range(3):
            events.append(f"batch {i}")
            yield x[8 * i : 8 * (i + 1)]

    model = branching_network()
    assert kab.adapt_bn_statistics(model, batches(x), verbose=0) == 24
    assert events == ["batch 0", "batch 1", "add 0", "batch 2", "add 1", "add 2"]
    assert_statistics(model, expected_moments(model, x))
    before = [numpy(v).copy() for v in model.weights]
    bad = x.copy()
    bad[9, 2, 2, 0] = np.nan  # in the second batch
    with pytest.raises(ValueError, match=r"batch 1 gave a non-finite .*'shared_bn'"):
        kab.adapt_bn_statistics(model, batches(bad), verbose=0)
    for value, variable in zip(before, model.weights):
        np.testing.assert_array_equal(numpy(variable), value)


@pytest.mark.parametrize("shape", [(8, 5, 5, 6), (7, 6)], ids=["image", "dense"])
def test_the_fused_kernel_gives_the_moments_and_outputs_of_the_unfused_pass(shape):
    """Where the backend has a fused training-mode kernel (TensorFlow's for images,
    PyTorch's for any rank), it gives the batch's exact moments (the biased
    variance) and the outputs normalised with them; elsewhere (JAX, or a single
    value per channel) there is none and the pass normalises with ``ops.moments``."""
    layer = BatchNormalization(epsilon=1e-3)
    layer.build(shape)
    rng = np.random.default_rng(6)
    channels = shape[-1]
    layer.gamma.assign(rng.uniform(0.5, 1.5, channels).astype("float32"))
    layer.beta.assign(rng.normal(size=channels).astype("float32"))
    x = (rng.normal(size=shape) * rng.uniform(0.1, 3.0, channels) + 2.0).astype("float32")
    fused = step_module.fused_moments(keras.ops.convert_to_tensor(x), layer)
    backend = keras.backend.backend()
    if backend == "jax" or (backend == "tensorflow" and len(shape) != 4):
        assert fused is None
        return
    outputs, count, mean, variance = (numpy(t) for t in fused)
    flat = x.reshape(-1, channels).astype(np.float64)
    assert count == flat.shape[0]
    np.testing.assert_allclose(mean, flat.mean(0), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(variance, flat.var(0), rtol=1e-5)
    gamma, beta = numpy(layer.gamma), numpy(layer.beta)
    expected = (x - flat.mean(0)) / np.sqrt(flat.var(0) + 1e-3) * gamma + beta
    assert outputs.shape == x.shape
    np.testing.assert_allclose(outputs, expected, rtol=1e-5, atol=1e-5)
    if backend == "torch":
        # one value per channel: the kernel's unbiased variance would be 0 / 0
        single = x[:1, :1, :1] if len(shape) == 4 else x[:1]
        assert step_module.fused_moments(keras.ops.convert_to_tensor(single), layer) is None


def biased_network(data_format="channels_last"):
    """Convolutions with a bias before BN layers: ``conv_a`` feeds ``bn_a`` and,
    through a ReLU, ``conv_b`` (so its ``y + bias`` must still reach that path);
    ``conv_b`` feeds ``bn_b`` alone; ``conv_c`` feeds ``bn_c``, whose axis is not
    the convolution's channel axis; ``conv_d`` has an activation before its BN."""
    keras.utils.set_random_seed(7)
    channels = -1 if data_format == "channels_last" else 1
    shape = (6, 6, 3) if data_format == "channels_last" else (3, 6, 6)
    inputs = keras.Input(shape)

    def conv(name, filters=4, activation=None):
        return keras.layers.Conv2D(
            filters,
            3,
            padding="same",
            data_format=data_format,
            activation=activation,
            bias_initializer=keras.initializers.RandomNormal(2.0, 3.0),
            name=name,
        )

    a = conv("conv_a")(inputs)
    b = conv("conv_b")(keras.layers.ReLU()(a))
    c = conv("conv_c", filters=6)(inputs)
    d = conv("conv_d", activation="relu")(inputs)
    outputs = [
        BatchNormalization(axis=channels, name="bn_a")(a),
        BatchNormalization(axis=channels, name="bn_b")(b),
        BatchNormalization(axis=2, name="bn_c")(c),  # per row, not per channel
        BatchNormalization(axis=channels, name="bn_d")(d),
    ]
    return keras.Model(inputs, outputs)


def biased_expected_moments(model, x, data_format):
    names = ["conv_a", "conv_b", "conv_c", "conv_d"]
    probe = keras.Model(model.inputs, [model.get_layer(name).output for name in names])
    values = [np.asarray(o, np.float64) for o in probe.predict(x, batch_size=64, verbose=0)]
    expected = {}
    for name, value in zip(("bn_a", "bn_b", "bn_c", "bn_d"), values):
        axis = 2 if name == "bn_c" else (3 if data_format == "channels_last" else 1)
        flat = np.moveaxis(value, axis, -1).reshape(-1, value.shape[axis])
        expected[name] = (flat.mean(0), flat.var(0))
    return expected


# TensorFlow's CPU convolutions take channels_last only
FORMATS = ["channels_last"] + (
    ["channels_first"] if keras.backend.backend() != "tensorflow" else []
)


@pytest.mark.parametrize("data_format", FORMATS)
def test_a_convolutions_bias_handed_to_its_bn_layer_gives_the_exact_moments(
    data_format, monkeypatch
):
    """On JAX the pass normalises a biased convolution's output before its bias
    (``step.bias_absorbing_convs``) and records its mean plus the bias; whatever
    else reads that output still gets ``y + bias``. Where the BN axis is not the
    convolution's channel axis, or an activation comes first, nothing is handed
    over. The other backends hand nothing over."""
    model = biased_network(data_format)
    calls, handed = [], []
    real_call, real_handed_over = adapt_module._adapting_call, adapt_module._Adaptation.handed_over

    def adapting_call(self, inputs, training=None, mask=None):
        calls.append(self.name)
        return real_call(self, inputs, training=training, mask=mask)

    def handed_over(self, inputs, axis):
        found = real_handed_over(self, inputs, axis)
        handed.append(found is not None)
        return found

    monkeypatch.setattr(adapt_module, "_adapting_call", adapting_call)
    monkeypatch.setattr(adapt_module._Adaptation, "handed_over", handed_over)
    x = pixels(20, seed=8)
    if data_format == "channels_first":
        x = np.ascontiguousarray(np.moveaxis(x, -1, 1))
    assert kab.adapt_bn_statistics(model, x, batch_size=8, verbose=0) == 20
    expected = biased_expected_moments(model, x, data_format)
    assert_statistics(model, expected)
    convs = step_module.bias_absorbing_convs(model)
    if keras.backend.backend() == "jax":
        assert [layer.name for layer in convs] == ["conv_a", "conv_b", "conv_c"]
        received = dict(zip(calls, handed))  # the last trace's
        assert received == {"bn_a": True, "bn_b": True, "bn_c": False, "bn_d": False}
    else:
        assert convs == [] and not any(handed)
    for layer in model.layers:  # every layer has its own class back
        assert not type(layer).__name__.startswith("_Adapting"), layer.name
    # the means carry the biases (around 2), which the inputs' moments alone do not
    assert abs(float(np.mean(numpy(model.get_layer("bn_a").moving_mean)))) > 0.5


def test_only_keras_own_biased_linear_float32_convolutions_hand_their_bias_over():
    class OwnConv(keras.layers.Conv2D):
        pass

    inputs = keras.Input((6, 6, 3))
    layers = [
        keras.layers.Conv2D(2, 1, name="plain"),
        keras.layers.Conv2D(2, 1, use_bias=False, name="no_bias"),
        keras.layers.Conv2D(2, 1, activation="relu", name="relu"),
        keras.layers.Conv2D(2, 1, dtype="float16", name="half"),
        OwnConv(2, 1, name="subclass"),
        keras.layers.DepthwiseConv2D(1, name="depthwise"),
    ]
    model = keras.Model(inputs, [layer(inputs) for layer in layers])
    names = [layer.name for layer in step_module.bias_absorbing_convs(model)]
    assert names == (["plain"] if keras.backend.backend() == "jax" else [])
