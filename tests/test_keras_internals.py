"""The Keras internals the package relies on, each through one accessor of
``keras_applications_bn._models.keras_internals``: each works on the installed
Keras, and each says clearly what is missing when a Keras release drops it."""

import keras
import numpy as np
import pytest

from keras_applications_bn._models import keras_internals as ki

# every accessor, on every combination of the compatibility stage (make test-compat)
pytestmark = pytest.mark.compat


def _model():
    inputs = keras.Input((4,))
    x = keras.layers.Dense(3, name="dense")(inputs)
    outputs = keras.layers.BatchNormalization(name="bn")(x)
    return keras.Model(inputs, outputs)


def _built_optimizer(model):
    optimizer = keras.optimizers.Adam(use_ema=True)
    optimizer.build(model.trainable_variables)
    return optimizer


def test_functional_graph_accessors():
    model = _model()
    assert ki.is_functional(model)
    assert not ki.is_functional(keras.Sequential([keras.layers.Dense(1)]))
    assert not ki.is_functional(keras.layers.Dense(1))
    depths = ki.nodes_by_depth(model)
    assert min(depths) == 0 and {n.operation.name for n in depths[0]} == {"bn"}
    assert ki.producer(model.outputs[0]) is model.get_layer("bn")
    assert ki.producer_inputs(model.outputs[0])[0] is model.get_layer("dense").output
    add, multiply = ki.add_and_multiply_ops()
    x = keras.Input((4,))
    assert type(ki.producer(x + 1.0)) is add and type(ki.producer(x * 2.0)) is multiply


def test_convnext_layers_are_keras_own():
    layer_scale, stochastic_depth = ki.convnext_layers()
    assert layer_scale.__name__ == "LayerScale" and stochastic_depth.__name__ == "StochasticDepth"
    assert layer_scale(1e-6, 4)(np.ones((1, 4), "float32")).shape == (1, 4)


def test_layer_tracking_accessors():
    inner = _model()
    outer = keras.Sequential([inner, keras.layers.Dense(2, name="outer_dense")])
    direct = [
        layer for layer in ki.sublayers(outer) if not isinstance(layer, keras.layers.InputLayer)
    ]
    assert direct == [inner, outer.get_layer("outer_dense")]
    walked = ki.sublayers(outer, include_self=True, recursive=True)
    assert walked[0] is outer and inner.get_layer("bn") in walked
    inner.trainable = False
    dense = inner.get_layer("dense")
    assert dense.trainable_variables == []
    assert [v.path for v in ki.layer_trainable_variables(dense)] == ["dense/kernel", "dense/bias"]


def test_optimizer_accessors():
    model = _model()
    optimizer = _built_optimizer(model)
    kernel = model.get_layer("dense").kernel
    key = ki.optimizer_var_key(optimizer, kernel)
    assert key in ki.optimizer_trainable_indices(optimizer)
    assert any(v is kernel for v in ki.optimizer_trainable_variables(optimizer))
    assert len(ki.optimizer_variables(optimizer)) == len(optimizer.variables)
    assert len(ki.optimizer_moving_averages(optimizer)) == len(model.trainable_variables)
    indices = dict(ki.optimizer_trainable_indices(optimizer))
    ki.set_optimizer_trainable_indices(optimizer, {})
    assert ki.optimizer_trainable_indices(optimizer) == {}
    ki.set_optimizer_trainable_indices(optimizer, indices)


def _clear(match):
    return pytest.raises(ki.KerasInternalsError, match=rf"{match}.*Keras {keras.__version__}")


@pytest.mark.parametrize(
    "attribute, call",
    [
        ("_nodes_by_depth", lambda m, o: ki.nodes_by_depth(m)),
        ("_flatten_layers", lambda m, o: ki.sublayers(m)),
        ("_trainable_variables", lambda m, o: ki.layer_trainable_variables(m)),
        ("_var_key", lambda m, o: ki.optimizer_var_key(o, m.trainable_variables[0])),
        ("_trainable_variables_indices", lambda m, o: ki.optimizer_trainable_indices(o)),
        ("_trainable_variables_indices", lambda m, o: ki.set_optimizer_trainable_indices(o, {})),
        ("_variables", lambda m, o: ki.optimizer_variables(o)),
        ("_trainable_variables", lambda m, o: ki.optimizer_trainable_variables(o)),
        ("_model_variables_moving_average", lambda m, o: ki.optimizer_moving_averages(o)),
    ],
)
def test_a_missing_attribute_is_a_clear_error(attribute, call, monkeypatch):
    model = _model()
    optimizer = _built_optimizer(model)
    for cls in (type(model), type(optimizer)):
        for klass in cls.__mro__:
            if attribute in vars(klass):
                monkeypatch.delattr(klass, attribute)
    for obj in (model, optimizer):
        if attribute in vars(obj):
            monkeypatch.delattr(obj, attribute)
    with _clear(attribute):
        call(model, optimizer)


def test_a_missing_tensor_history_is_a_clear_error():
    class Tensor:
        pass

    with _clear("_keras_history"):
        ki.producer(Tensor())


@pytest.mark.parametrize(
    "module, name, call",
    [
        ("keras.src.models.functional", "Functional", ki.functional_class),
        ("keras.src.applications.convnext", "LayerScale", ki.convnext_layers),
        ("keras.src.applications.convnext", "StochasticDepth", ki.convnext_layers),
        ("keras.src.ops.numpy", "Add", ki.add_and_multiply_ops),
    ],
)
def test_a_missing_class_is_a_clear_error(module, name, call, monkeypatch):
    import importlib

    monkeypatch.delattr(importlib.import_module(module), name)
    with _clear(f"{module}.{name}"):
        call()


def test_orbax_check_is_false_for_a_plain_directory_and_without_orbax(tmp_path, monkeypatch):
    # optional internal: Keras versions without Orbax support load no directory
    assert ki.is_orbax_checkpoint(str(tmp_path)) is False
    import keras.src.saving as saving

    monkeypatch.setitem(__import__("sys").modules, "keras.src.saving.orbax_util", None)
    assert saving is not None and ki.is_orbax_checkpoint(str(tmp_path)) is False


def test_has_been_called(monkeypatch):
    model = _model()
    assert ki.has_been_called(model) is False
    model(np.zeros((1, 4), "float32"))
    assert ki.has_been_called(model) is True
    for klass in type(model).__mro__:
        if "_called" in vars(klass):
            monkeypatch.delattr(klass, "_called")
    monkeypatch.delattr(model, "_called")
    with _clear("_called"):
        ki.has_been_called(model)


def test_uses_renorm_reads_a_missing_option_as_off():
    """Keras' BatchNormalization has ``renorm`` since Keras 3.14; a layer of an
    earlier Keras has no such attribute and does not renormalize."""

    class EarlierKerasBN:
        pass

    assert ki.uses_renorm(EarlierKerasBN()) is False
    assert ki.uses_renorm(keras.layers.BatchNormalization()) is False
    if hasattr(keras.layers.BatchNormalization(), "renorm"):
        assert ki.uses_renorm(keras.layers.BatchNormalization(renorm=True)) is True
