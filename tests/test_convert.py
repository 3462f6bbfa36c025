"""to_keras: a copy made of Keras' own classes, with the same weights and outputs,
whose .keras and .h5 files reload where only Keras is installed."""

import json
import zipfile

import h5py
import keras
import numpy as np
import pytest
from keras.src.applications.convnext import LayerScale
from test_contract import pinned_base

import keras_applications_bn as kab
from keras_applications_bn.layers import Affine, BatchNormalization, CustomScaleLayer, ReduceSum
from keras_applications_bn.mobilenet_v3 import MobileNetV3Small

from architectures import FAMILIES, assert_same_outputs, images, randomize_bn
from conftest import run_python


def classes(model):
    """``module.Class`` of every operation of ``model`` and of the models nested in it
    (layers, and graph operations such as ``x + 3.0``)."""
    found = []
    for op in getattr(model, "operations", model.layers):  # Sequential: layers only
        found.append(f"{type(op).__module__}.{type(op).__qualname__}")
        if isinstance(op, keras.Model):
            found.extend(classes(op))
    return found


def assert_keras_only(model):
    foreign = [c for c in classes(model) if not c.startswith("keras.")]
    assert not foreign, foreign


def saved_config(model, path):
    """The model config of ``model`` saved as ``.keras``, as text."""
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        return archive.read("config.json").decode()


def tiny_pinned(seed=0):
    """Every construct this package adds: pinned BN (one without gamma), MobileNetV3's
    Affine ops around a ReLU6, InceptionResNetV2's scaled sum."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = BatchNormalization(inference_mode=True, name="bn")(x, training=False)
    gate = keras.layers.ReLU(6.0)(Affine(offset=3.0)(x))
    gate = Affine(scale=1.0 / 6.0)(gate)
    up = keras.layers.Conv2D(4, 1, name="up")(gate)
    x = CustomScaleLayer(0.17, name="scaled")([x, up])
    x = BatchNormalization(inference_mode=True, scale=False, name="bn_2")(x, training=False)
    outputs = keras.layers.Dense(3, name="head")(keras.layers.GlobalAveragePooling2D()(x))
    return randomize_bn(keras.Model(inputs, outputs, name="tiny"), seed=seed)


@pytest.fixture(scope="module")
def tiny():
    model = tiny_pinned()
    return model, kab.to_keras(model)


@pytest.mark.compat
def test_copy_is_made_of_keras_classes(tiny, tmp_path):
    model, copy = tiny
    assert_keras_only(copy)
    assert copy is not model and copy.name == model.name
    assert [l.name for l in copy.layers if l.weights] == [l.name for l in model.layers if l.weights]
    for name in ("bn", "bn_2"):  # pinned -> Keras' layer in inference mode, same config
        bn = copy.get_layer(name)
        assert type(bn) is keras.layers.BatchNormalization and not bn.trainable
        assert bn.scale == model.get_layer(name).scale
    scaled = copy.get_layer("scaled")  # the scaled sum keeps its name, on the Add
    assert type(scaled) is keras.layers.Add
    # nothing in the saved config needs this package
    assert "keras_applications_bn" not in saved_config(copy, tmp_path / "copy.keras")


@pytest.mark.compat
def test_same_weights_and_outputs_also_in_a_training_call(tiny):
    model, copy = tiny
    for a, b in zip(model.weights, copy.weights, strict=True):
        assert a.path == b.path
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    x = images((8, 8, 3))
    expected = model.predict(x, verbose=0)
    np.testing.assert_allclose(copy.predict(x, verbose=0), expected, rtol=1e-6, atol=1e-6)
    # Keras' layer with trainable=False ignores training=True, as the pin does
    np.testing.assert_allclose(copy(x, training=True), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.compat
def test_copy_of_a_copy_is_equal(tiny):
    """Converting the copy again (as export_model does with fold_batch_norm's
    model) gives an equal copy."""
    model, copy = tiny
    again = kab.to_keras(copy)
    assert again is not copy and classes(again) == classes(copy)
    x = images((8, 8, 3))
    np.testing.assert_allclose(
        again.predict(x, verbose=0), copy.predict(x, verbose=0), rtol=1e-6, atol=1e-6
    )


def h5_round_trip(model, path):
    """``model`` saved as a legacy ``.h5`` file that names no class of this
    package, and loaded back (safe mode)."""
    model.save(path)
    with h5py.File(path) as f:
        assert "keras_applications_bn" not in f.attrs["model_config"]
    return keras.saving.load_model(path, safe_mode=True)


def test_tiny_copy_reloads_from_h5(tiny, tmp_path):
    """MobileNetV3's Affine ops become Rescaling layers, not Keras' graph
    operations (``x + 3.0``), which an .h5 file cannot rebuild."""
    model, copy = tiny
    assert all(isinstance(op, keras.layers.Layer) for op in copy.operations)
    rescaling = [op for op in copy.operations if isinstance(op, keras.layers.Rescaling)]
    affine = [op for op in model.operations if isinstance(op, Affine)]
    assert [(r.name, r.scale, r.offset) for r in rescaling[:2]] == [
        (affine[0].name, 1.0, 3.0),
        (affine[1].name, 1.0 / 6.0, 0.0),
    ]
    x = images((8, 8, 3))
    reloaded = h5_round_trip(copy, tmp_path / "tiny.h5")
    np.testing.assert_allclose(
        reloaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6
    )


def test_keras_add_and_multiply_operations_become_layers(tmp_path):
    """Keras' own graph operations of keras.applications' MobileNetV3 hard-sigmoid
    (``x + 3.0``, ``* (1 / 6)``), ``0.5 + x`` and ConvNeXt's residual ``x + y``
    become Rescaling, Add and Multiply layers named as the operations, with the
    same floats, so the copy's .h5 file reloads; other operations are reused."""
    inputs = keras.Input((4, 4, 3))
    x = keras.layers.Conv2D(3, 1, name="conv")(inputs)
    gate = keras.layers.ReLU(6.0, name="relu6")(x + 3.0) * (1.0 / 6.0)
    model = keras.Model(inputs, 0.5 + (x + x * gate))
    copy = kab.to_keras(model)
    assert all(isinstance(op, keras.layers.Layer) for op in copy.operations)
    converted = {op.name: type(op).__name__ for op in copy.operations}
    expected = {"Conv2D": "Conv2D", "ReLU": "ReLU", "Add": "Add", "Multiply": "Multiply"}
    for op in model.operations[1:]:  # after the input
        tensors = sum(isinstance(a, keras.KerasTensor) for a in op._inbound_nodes[0].arguments.args)
        kind = (
            type(op).__name__ if tensors != 1 or isinstance(op, keras.layers.Layer) else "Rescaling"
        )
        assert converted[op.name] == expected.get(kind, kind), op.name
    assert sorted(converted.values()).count("Rescaling") == 3
    x = images((4, 4, 3))
    np.testing.assert_array_equal(copy(x), model(x))  # the same floats
    np.testing.assert_array_equal(h5_round_trip(copy, tmp_path / "ops.h5")(x), model(x))
    # an operation that is not an add or multiply of that kind stays Keras' operation
    divided = kab.to_keras(keras.Model(inputs, model.output / 6.0))
    assert type(divided.operations[-1]).__name__ == "TrueDivide"
    assert not isinstance(divided.operations[-1], keras.layers.Layer)


def test_convnext_layer_scale_becomes_depthwise_conv(tmp_path):
    """Keras' ConvNeXt LayerScale (a class keras.layers does not name) on a 4D
    input becomes a DepthwiseConv2D whose 1x1 kernel is gamma: the same
    products, and a trainable weight as gamma was; on another rank it stays."""
    inputs = keras.Input((4, 4, 3))
    x = LayerScale(0.5, 3, name="scale")(inputs)
    model = keras.Model(inputs, keras.layers.Conv2D(2, 1, name="conv")(inputs + x))
    gamma = np.array([0.3, -1.7, 2.5], "float32")
    model.get_layer("scale").gamma.assign(gamma)
    copy = kab.to_keras(model)
    conv = copy.get_layer("scale")
    assert type(conv) is keras.layers.DepthwiseConv2D and not conv.use_bias
    np.testing.assert_array_equal(conv.get_weights()[0], gamma.reshape(1, 1, 3, 1))
    assert [w.path for w in conv.trainable_weights] == ["scale/kernel"]
    x = images((4, 4, 3))
    np.testing.assert_array_equal(copy(x), model(x))
    np.testing.assert_array_equal(h5_round_trip(copy, tmp_path / "scale.h5")(x), model(x))
    sequence = keras.Input((5, 3))
    kept = kab.to_keras(keras.Model(sequence, LayerScale(0.5, 3, name="scale_3d")(sequence)))
    assert type(kept.get_layer("scale_3d")) is LayerScale


def test_original_is_unchanged(tiny):
    model, copy = tiny
    assert (
        type(model.get_layer("bn")) is BatchNormalization and model.get_layer("bn").inference_mode
    )
    assert isinstance(model.get_layer("scaled"), CustomScaleLayer)
    assert sum(isinstance(op, Affine) for op in model.operations) == 2
    assert model.get_layer("bn").trainable
    # separate variables: changing the copy leaves the original alone
    before = model.get_layer("head").get_weights()[0].copy()
    copy.get_layer("head").kernel.assign(np.zeros_like(before))
    np.testing.assert_array_equal(model.get_layer("head").get_weights()[0], before)
    copy.get_layer("head").kernel.assign(before)


@pytest.mark.compat
def test_nested_family_backbone_is_converted():
    """A pinned MobileNetV3 (BN and Affine ops) nested in a classifier. Compiled
    and eager calls are compared separately: with random weights and inputs up
    to 255 they round differently (by up to 2e-3 of the largest output, with
    some seeds)."""
    shape = (32, 32, 3)
    keras.utils.set_random_seed(0)
    base = randomize_bn(
        MobileNetV3Small(
            weights=None, alpha=0.75, include_top=False, input_shape=shape, inference_bn=True
        )
    )
    inputs = keras.Input(shape)
    outputs = keras.layers.Dense(2, name="head")(
        keras.layers.GlobalAveragePooling2D()(base(inputs))
    )
    model = keras.Model(inputs, outputs)
    copy = kab.to_keras(model)
    assert_keras_only(copy)
    nested = copy.get_layer(base.name)
    assert isinstance(nested, keras.Model) and nested is not base
    assert len(kab.bn_layers(copy)) == len(kab.bn_layers(model)) > 0
    assert not any(layer.trainable for layer in kab.bn_layers(copy))
    x = images(shape) * 255.0
    assert_same_outputs(copy.predict(x, verbose=0), model.predict(x, verbose=0))
    assert_same_outputs(copy(x, training=True), model(x, training=False))


def test_released_and_affine_frozen_layers_keep_batch_statistics():
    """Unpinned layers of this package (released, or freeze()'s affine_trainable=False)
    become trainable Keras layers: training calls still use batch statistics."""
    inputs = keras.Input((6,))
    x = BatchNormalization(name="released")(keras.layers.Dense(5, name="d")(inputs))
    x = BatchNormalization(affine_trainable=False, name="affine_frozen")(x)
    model = keras.Model(inputs, x)
    copy = kab.to_keras(model)
    assert_keras_only(copy)
    assert all(layer.trainable for layer in kab.bn_layers(copy))
    x = np.random.default_rng(0).normal(3.0, 2.0, (16, 6)).astype("float32")
    np.testing.assert_allclose(
        copy(x, training=True), model(x, training=True), rtol=1e-5, atol=1e-5
    )


@pytest.mark.compat
def test_resnext_grouped_sum_becomes_keras_layers(tmp_path):
    """ResNeXt's ReduceSum (1.0.8's Lambda sum) becomes a Reshape, an
    AveragePooling2D over the summed axis and a Rescaling by its length (named as
    the ReduceSum), and a Reshape: Keras layers, so the copy's .h5 file reloads;
    between two reshapes, it adds none. An input with a dimension unknown before
    it runs gets Keras' sum operation."""
    inputs = keras.Input((4, 4, 2, 3, 5))
    x = ReduceSum(axis=-2, name="group_sum")(inputs)
    x = BatchNormalization(inference_mode=True, name="bn")(x)
    model = keras.Model(inputs, x)
    copy = kab.to_keras(model)
    assert_keras_only(copy)
    assert [type(op).__name__ for op in copy.operations] == [
        "InputLayer",
        "Reshape",
        "AveragePooling2D",
        "Rescaling",
        "Reshape",
        "BatchNormalization",
    ]
    assert copy.get_layer("group_sum").scale == 3.0
    assert "keras_applications_bn" not in saved_config(copy, tmp_path / "m.keras")
    x = np.random.default_rng(0).normal(size=(2, 4, 4, 2, 3, 5)).astype("float32")
    np.testing.assert_allclose(copy(x, training=True), model(x), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(copy(x), x.sum(axis=-2) / np.sqrt(1 + 1e-3), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        h5_round_trip(copy, tmp_path / "m.h5")(x), model(x), rtol=1e-6, atol=1e-6
    )
    # between reshapes, as in ResNeXt: a reshape of a reshape is one, the copy has two
    flat = keras.Input((4, 4, 30))
    grouped = ReduceSum(axis=-2, name="group_sum")(keras.layers.Reshape((4, 4, 2, 3, 5))(flat))
    model = keras.Model(flat, keras.layers.Reshape((4, 4, 10))(grouped))
    copy = kab.to_keras(model)
    assert [type(op).__name__ for op in copy.operations] == [
        "InputLayer",
        "Reshape",
        "AveragePooling2D",
        "Rescaling",
        "Reshape",
    ]
    x = x.reshape(2, 4, 4, 30)
    np.testing.assert_allclose(copy(x), model(x), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        h5_round_trip(copy, tmp_path / "r.h5")(x), model(x), rtol=1e-6, atol=1e-6
    )
    unknown = keras.Input((None, 3, 5))
    summed = kab.to_keras(keras.Model(unknown, ReduceSum(axis=-2)(unknown)))
    assert type(summed.operations[-1]).__name__ == "Sum"


@pytest.mark.compat
def test_sequential_and_plain_keras_models():
    seq = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3), BatchNormalization(inference_mode=True)]
    )
    copy = kab.to_keras(seq)
    assert isinstance(copy, keras.Sequential)
    assert_keras_only(copy)
    assert not copy.layers[-1].trainable
    x = np.ones((2, 4), "float32")
    np.testing.assert_allclose(
        copy(x, training=True), seq.predict(x, verbose=0), rtol=1e-6, atol=1e-6
    )
    # a model of Keras' classes comes back as an equal copy
    plain = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3), keras.layers.BatchNormalization()]
    )
    same = kab.to_keras(plain)
    assert same is not plain and classes(same) == classes(plain)


def test_rejects_what_is_not_a_functional_or_sequential_model():
    with pytest.raises(TypeError, match="`model` must be a Keras model, got str"):
        kab.to_keras("model.keras")
    with pytest.raises(TypeError, match="`model` must be a Keras model, got Dense"):
        kab.to_keras(keras.layers.Dense(2))

    class Subclassed(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(TypeError, match="subclassed"):
        kab.to_keras(Subclassed())


def reload_without_the_package(archs, tmp_path):
    """For each of ``archs`` (tests/architectures.py), its pinned model's
    to_keras and fold_batch_norm copies, each saved as .keras and as .h5, and its
    default model saved as it is (.keras), reload in one fresh process that
    imports only Keras (this package cannot even be imported there), with
    safe_mode=True: the same outputs as the parent's pinned model (to_keras), the
    folded model (fold: its file round-trips; fold_batch_norm's accuracy is
    test_deploy's) or the default model, from an eager call (a training call for
    the copies, which are in inference mode) compared with the parent's eager
    inference call: the file gives back the same layers and weights. (A reloaded
    model's compiled path is Keras' own; its ``predict`` was compared here once
    and took half of these tests' time: a copy's compiled path is checked in the
    parent, in test_same_weights_and_outputs_also_in_a_training_call and the export
    stage.) Fails the test with every mismatch."""
    cases, saved = {}, tmp_path / "saved"
    for arch in archs:
        x = images(arch.shape)
        pinned = pinned_base(arch)
        default = arch.ours(weights=None, include_top=False, input_shape=arch.shape)
        default.set_weights(pinned.get_weights())  # the same layout: distinctive statistics
        folded = kab.fold_batch_norm(pinned)
        models = {
            "to_keras": (kab.to_keras(pinned), pinned, (".keras", ".h5")),
            "fold": (folded, folded, (".keras", ".h5")),
        }
        # InceptionResNetV2's default model keeps this package's registered scaled
        # sum (Keras' own model cannot reload without custom_objects at all), and
        # ResNeXt's its registered ReduceSum (keras_applications 1.0.8's Lambda, which
        # Keras reloads only with safe_mode=False); to_keras covers both above.
        # Default models are saved as they are: .keras only (MobileNetV3's x + 3.0
        # and ConvNeXt's LayerScale, as in keras.applications, need .keras)
        if not any(isinstance(op, (CustomScaleLayer, ReduceSum)) for op in default.operations):
            models["default"] = (default, default, (".keras",))
        for kind, (model, reference, suffixes) in models.items():
            folder = saved / f"{arch.id}-{kind}"
            folder.mkdir(parents=True)
            np.save(folder / "x.npy", x)
            expected = keras.ops.convert_to_numpy(reference(x, training=False))
            for suffix in suffixes:
                model.save(folder / f"model{suffix}")
                cases[f"{folder.name}{suffix}"] = (arch, expected)
        keras.backend.clear_session()
    code = f"""
import json, pathlib, sys
sys.modules["keras_applications_bn"] = None  # importing it would fail
import numpy as np, keras
loaded = []
for folder in sorted(pathlib.Path({str(saved)!r}).iterdir()):
    x = np.load(folder / "x.npy")
    for path in sorted(folder.glob("model.*")):
        model = keras.saving.load_model(path, safe_mode=True)
        name = path.suffix[1:]
        training = not folder.name.endswith("default")  # the copies: even a training call
        np.save(folder / f"{{name}}-eager.npy", keras.ops.convert_to_numpy(model(x, training=training)))
        loaded.append(folder.name + path.suffix)
        keras.backend.clear_session()
assert sys.modules["keras_applications_bn"] is None
print("RESULT" + json.dumps(loaded))
"""
    loaded = json.loads(run_python(code, timeout=1500).stdout.split("RESULT", 1)[1])
    assert sorted(loaded) == sorted(cases)
    failures = []
    for name, (arch, expected) in cases.items():
        folder, suffix = name.rsplit(".", 1)
        try:
            assert_same_outputs(
                np.load(saved / folder / f"{suffix}-eager.npy"), expected, rtol=arch.rtol
            )
        except AssertionError as error:
            failures.append(f"{name}: {str(error)[:300]}")
    assert not failures, "\n".join(failures)


# the families whose copies once saved .h5 files that nothing could load: ResNeXt's
# sum and MobileNetV3's x + 3.0 as Keras' graph operations
FAST_RELOAD = [a for a in FAMILIES if a.id in ("resnext50", "mobilenet_v3_small")]


@pytest.mark.slow  # ~50 s of fresh-process loading: the fast lane stays within 6 minutes
def test_copies_reload_from_keras_and_h5_with_keras_alone(tmp_path):
    """ResNeXt50 and MobileNetV3Small: see reload_without_the_package."""
    assert len(FAST_RELOAD) == 2
    reload_without_the_package(FAST_RELOAD, tmp_path)


# the other families in 4 parts (one fresh process each), so that the slow lane's two
# workers share them: as one test it held one worker for 7 minutes
OTHER_RELOAD = [a for a in FAMILIES if a not in FAST_RELOAD]
RELOAD_PARTS = [OTHER_RELOAD[i::4] for i in range(4)]


@pytest.mark.slow
@pytest.mark.parametrize(
    "part", RELOAD_PARTS, ids=["+".join(a.id for a in part) for part in RELOAD_PARTS]
)
def test_every_family_reloads_from_keras_and_h5_with_keras_alone(part, tmp_path):
    """The smallest member of every other family: see reload_without_the_package."""
    assert sum(len(p) for p in RELOAD_PARTS) == len(OTHER_RELOAD) > 0
    reload_without_the_package(part, tmp_path)


@pytest.mark.slow
def test_a_process_without_the_package_is_told_what_to_import(tmp_path):
    # a pinned model saved as .keras and .h5, loaded where keras_applications_bn is
    # not imported (and cannot be): both errors say to import it, the .keras one
    # near its start (Keras' own text comes first) and with to_keras
    model = kab.MobileNet(
        input_shape=(32, 32, 3), alpha=0.25, weights=None, classes=3, inference_bn=True
    )
    model.save(tmp_path / "pinned.keras")
    model.save(tmp_path / "pinned.h5")
    code = f"""
import json, sys
sys.modules["keras_applications_bn"] = None  # importing it would fail
import keras
messages = {{}}
for name in ("pinned.keras", "pinned.h5"):
    try:
        keras.saving.load_model({str(tmp_path)!r} + "/" + name)
        messages[name] = None
    except Exception as error:
        messages[name] = f"{{type(error).__name__}}: {{error}}"
print("RESULT" + json.dumps(messages))
"""
    messages = json.loads(run_python(code, timeout=300).stdout.split("RESULT", 1)[1])
    keras_error, h5_error = messages["pinned.keras"], messages["pinned.h5"]
    assert keras_error is not None and h5_error is not None
    assert h5_error.startswith(
        "ValueError: Unknown layer: 'import keras_applications_bn>BatchNormalization'"
    )
    assert "import keras_applications_bn before loading" in keras_error[:1200], keras_error[:1200]
    assert "keras_applications_bn.to_keras(model)" in keras_error[:1200]
