"""adapt_bn_statistics keeps every piece of a pass's state to that pass: nothing is
left on the layers or in the module afterwards (after a failure too), and two
passes running at once do not mix their statistics."""

import collections.abc
import gc
import importlib
import pkgutil
import threading

import keras
import numpy as np
import pytest

import keras_applications_bn.batchnorm
from keras_applications_bn import adapt_bn_statistics, bn_layers
from keras_applications_bn.batchnorm import adapt
from keras_applications_bn.layers import BatchNormalization


class Rendezvous(keras.layers.Layer):
    """Passes its input through; runs ``hook`` (once) the first time it is called."""

    hook = None

    def call(self, x):
        hook, self.hook = self.hook, None
        if hook is not None:
            hook()
        return x


def small_net(seed=3, mean_shift=0.0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((10, 10, 3))
    x = keras.layers.Conv2D(6, 3, name="conv_a")(inputs)
    x = BatchNormalization(name="bn_a", inference_mode=True)(x)
    x = Rendezvous(name="rendezvous")(x)  # between the two BN layers
    x = keras.layers.Conv2D(5, 3, name="conv_b")(x)
    x = keras.layers.BatchNormalization(name="bn_b")(x)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))


def images(n, seed, shift=0.0):
    return (np.random.default_rng(seed).normal(shift, 3.0, (n, 10, 10, 3))).astype("float32")


def stats(model):
    return [
        (layer.moving_mean.numpy(), layer.moving_variance.numpy()) for layer in bn_layers(model)
    ]


def batchnorm_modules():
    """Every module of the batchnorm package (the pass, its data, its step...)."""
    package = keras_applications_bn.batchnorm
    names = [info.name for info in pkgutil.iter_modules(package.__path__, package.__name__ + ".")]
    assert f"{package.__name__}.adapt" in names
    return [importlib.import_module(name) for name in names]


def module_state():
    """The size of every mutable container the batchnorm modules hold, but for
    TRACED_STEPS: that cache of traced passes (one per model, held weakly) is
    meant to grow, and holds no pass's state (see leftovers)."""
    return {
        f"{module.__name__}.{name}": len(value)
        for module in batchnorm_modules()
        for name, value in vars(module).items()
        if isinstance(
            value,
            (
                collections.abc.MutableMapping,
                collections.abc.MutableSequence,
                collections.abc.MutableSet,
            ),
        )
        and not name.startswith("__")
        and name != "TRACED_STEPS"
    }


def layer_state(model):
    return [
        (layer, type(layer), sorted(vars(layer)))
        for layer in model._flatten_layers(include_self=True)
    ]


def leftovers():
    """What is still alive of past passes: the layer classes they swapped in, and
    the objects that held their state."""
    gc.collect()
    found, todo = [], [keras.layers.BatchNormalization]
    while todo:
        cls = todo.pop()
        found += [sub for sub in cls.__subclasses__() if sub.__name__.startswith("_Adapting")]
        todo += cls.__subclasses__()
    return found + [obj for obj in gc.get_objects() if isinstance(obj, adapt._Adaptation)]


def _run_nested_pass(model, x):
    adapt_bn_statistics(model, x[:4], verbose=0)


FAILURES = {
    "NaN batch": lambda model, x: x * np.nan,
    "a pass started from inside its own data": lambda model, x: _run_nested_pass(model, x) or x,
}


@pytest.mark.parametrize("failure", [None, *FAILURES], ids=str)
def test_nothing_is_left_on_the_layers_or_in_the_module(failure):
    model = small_net()
    x = images(16, seed=0)
    model(x[:2], training=False)  # Keras' own first-call attributes are set before the snapshot
    before_layers, before_module, before_stats = layer_state(model), module_state(), stats(model)
    during = []

    def data():
        yield x[:8]
        during.append((module_state(), [type(layer).__name__ for layer in bn_layers(model)]))
        yield x[8:] if failure is None else FAILURES[failure](model, x[8:])

    if failure is None:
        assert adapt_bn_statistics(model, data(), verbose=0) == 16
        assert not np.array_equal(stats(model)[0][1], before_stats[0][1])
    else:
        error = RuntimeError if "inside" in failure else ValueError
        match = "already running on " if "inside" in failure else "non-finite"
        with pytest.raises(error, match=match):
            adapt_bn_statistics(model, data(), verbose=0)
        for a, b in zip(stats(model), before_stats):
            np.testing.assert_array_equal(a, b)
    # during the pass the layers were swapped, and the module held nothing for it
    assert during == [
        (before_module, ["_AdaptingBatchNormalization", "_AdaptingBatchNormalization"])
    ]
    # afterwards: every layer has its own class and the same attributes, and no
    # swapped class (or the pass that made it) is alive
    assert layer_state(model) == before_layers
    assert module_state() == before_module
    assert leftovers() == []
    assert adapt_bn_statistics(model, x, batch_size=8, verbose=0) == 16  # still works


def test_two_passes_at_once_in_two_threads_keep_their_statistics_apart():
    """Model A's pass is stopped between its two BN layers (while it is traced)
    until model B's whole pass, in another thread, is done; each model gets the
    statistics it gets when adapted alone."""
    xa, xb = images(12, seed=1), images(12, seed=2, shift=4.0)
    alone_a, alone_b = small_net(seed=3), small_net(seed=4)
    adapt_bn_statistics(alone_a, xa, batch_size=6, verbose=0)
    adapt_bn_statistics(alone_b, xb, batch_size=6, verbose=0)

    model_a, model_b = small_net(seed=3), small_net(seed=4)
    errors = []

    def adapt_b():
        try:
            adapt_bn_statistics(model_b, xb, batch_size=6, verbose=0)
        except Exception as error:  # reported by the assertion below
            errors.append(error)

    def run_b_in_the_middle_of_a():
        thread = threading.Thread(target=adapt_b)
        thread.start()
        thread.join(timeout=120)
        assert not thread.is_alive()

    model_a.get_layer("rendezvous").hook = run_b_in_the_middle_of_a
    adapt_bn_statistics(model_a, xa, batch_size=6, verbose=0)
    assert model_a.get_layer("rendezvous").hook is None  # B did run inside A's pass
    assert errors == []
    for model, alone in ((model_a, alone_a), (model_b, alone_b)):
        for (mean, var), (mean_alone, var_alone) in zip(stats(model), stats(alone)):
            np.testing.assert_allclose(mean, mean_alone, rtol=1e-6, atol=1e-6)
            np.testing.assert_allclose(var, var_alone, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("where", ["another thread", "the pass's own data"])
def test_predict_during_a_pass_sees_the_models_own_behaviour(where):
    """While the pass runs (its layers' classes swapped), a predict traced in
    another thread, or called from the pass's data between two batches, runs the
    model as it is: moving statistics, nothing recorded into the pass."""
    model, alone = small_net(seed=5), small_net(seed=5)
    x = images(12, seed=6)
    expected = model.predict(x, verbose=0)
    adapt_bn_statistics(alone, x, batch_size=6, verbose=0)
    outputs, errors = [], []

    def run_predict():
        model.predict_function = None  # traced again, while the layers are swapped
        try:
            outputs.append(model.predict(x, verbose=0))
        except Exception as error:  # reported by the assertion below
            errors.append(error)

    def data():
        yield x[:6]
        if where == "another thread":
            thread = threading.Thread(target=run_predict)
            thread.start()
            thread.join(timeout=120)
            assert not thread.is_alive()
        else:
            run_predict()
        yield x[6:]

    assert adapt_bn_statistics(model, data(), verbose=0) == 12
    assert errors == []
    np.testing.assert_allclose(outputs[0], expected, rtol=1e-6, atol=1e-6)
    for (mean, var), (mean_alone, var_alone) in zip(stats(model), stats(alone)):
        np.testing.assert_allclose(mean, mean_alone, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(var, var_alone, rtol=1e-6, atol=1e-6)
    assert leftovers() == []
