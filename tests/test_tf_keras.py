"""tf_keras (Keras 2, ``TF_USE_LEGACY_KERAS=1``) is refused at once, never a
silent wrong result: a Keras 3 model nested in a tf_keras model builds and fits
while its layers (TFOpLambda ops) never train."""

import importlib
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_applications_bn as kab
from keras_applications_bn._models import tf_keras as _tf_keras
from keras_applications_bn.layers import BatchNormalization

from conftest import REPO_ROOT, python_env


@pytest.fixture(scope="module")
def tf_keras():
    """tf_keras (in the "test" extras), imported only by the workers that run these tests."""
    return importlib.import_module("tf_keras")


NAMES_TF_KERAS = r"tf_keras \(Keras 2\).*Use Keras 3 throughout: `import keras`"


def test_detection_by_module_name(tf_keras):
    layer = tf_keras.layers.Dense(2)

    class Derived(tf_keras.layers.Dense):  # a user's subclass, defined elsewhere
        pass

    for obj in (
        layer,
        Derived(2),
        Derived,
        tf_keras.layers,
        tf_keras.Input((4,)),
        tf_keras.optimizers.SGD(),
    ):
        assert _tf_keras.is_tf_keras(obj), obj
    # without TF_USE_LEGACY_KERAS, tf.keras is Keras 3
    for obj in (
        keras.layers.Dense(2),
        keras.layers,
        keras.Input((4,)),
        np.zeros(2),
        BatchNormalization,
        "tf_keras",
        tf.keras,
        tf.keras.layers,
        tf.keras.layers.Dense(2),
    ):
        assert not _tf_keras.is_tf_keras(obj), obj
    _tf_keras.check_not_tf_keras(keras.layers, "layers")
    with pytest.raises(
        TypeError,
        match=r"^`layers` is a tf_keras \(Keras 2\) object \(the module tf_keras\.layers\)\. ",
    ):
        _tf_keras.check_not_tf_keras(tf_keras.layers, "layers")


def test_legacy_keras_variable_follows_tensorflow_rule():
    for value in ("1", "true", "True"):
        assert _tf_keras.legacy_keras_requested({"TF_USE_LEGACY_KERAS": value})
        with pytest.raises(
            ImportError, match=f"TF_USE_LEGACY_KERAS={value} makes `tf.keras` tf_keras.*Unset"
        ):
            _tf_keras.check_environment({"TF_USE_LEGACY_KERAS": value})
    for environ in (
        {},
        {"TF_USE_LEGACY_KERAS": "0"},
        {"TF_USE_LEGACY_KERAS": ""},
        {"TF_USE_LEGACY_KERAS": "yes"},
    ):
        assert not _tf_keras.legacy_keras_requested(environ)
        _tf_keras.check_environment(environ)


def test_every_tool_refuses_tf_keras_objects(tf_keras):
    legacy = tf_keras.Sequential([tf_keras.Input((4,)), tf_keras.layers.BatchNormalization()])
    calls = {
        "set_inference_bn": lambda: kab.set_inference_bn(legacy),
        "bn_layers": lambda: kab.bn_layers(legacy),
        "bn_summary": lambda: kab.bn_summary(legacy, print_fn=None),
        "reset_bn_statistics": lambda: kab.reset_bn_statistics(legacy),
        "adapt_bn_statistics": lambda: kab.adapt_bn_statistics(legacy, np.zeros((2, 4))),
        "forget_traced_functions": lambda: kab.forget_traced_functions(legacy),
        "freeze": lambda: kab.freeze(legacy),
        "unfreeze": lambda: kab.unfreeze(legacy),
        "lr_multipliers": lambda: kab.lr_multipliers(legacy, {0: 0.1}),
    }
    for call in calls.values():
        with pytest.raises(
            TypeError,
            match=r"^`model` is a tf_keras \(Keras 2\) object \(Sequential.*" + NAMES_TF_KERAS,
        ):
            call()
    assert legacy.layers[0].trainable and type(legacy.layers[0]).__module__.startswith(
        "tf_keras"
    )  # untouched
    with pytest.raises(TypeError, match=r"^`optimizer` is a tf_keras.*\(Adam"):
        kab.LayerwiseLR(tf_keras.optimizers.Adam(), {"dense": 0.1})
    with pytest.raises(TypeError, match=r"^`input_tensor` is a tf_keras"):
        kab.ResNet50(weights=None, include_top=False, input_tensor=tf_keras.Input((32, 32, 3)))
    with pytest.raises(
        TypeError, match="`model` must be a Keras model or layer, got 3 of type int"
    ):
        kab.freeze(3)  # not tf_keras: the usual message


def test_nesting_into_a_tf_keras_model_fails_at_once(tf_keras):
    """Without the check the call returns a tf_keras tensor built from TFOpLambda
    layers, and the outer model never trains the nested weights."""
    model = keras.Sequential(
        [keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3), BatchNormalization(inference_mode=True)]
    )
    with pytest.raises(
        TypeError,
        match="The input of a model of this package is a tf_keras .*KerasTensor.*TFOpLambda",
    ):
        model(tf_keras.Input((8, 8, 3)))
    keras_output = keras.Sequential([keras.Input((8, 8, 3)), model])(
        keras.Input((8, 8, 3))
    )  # Keras 3 works
    assert keras_output.shape == (None, 6, 6, 4)


@pytest.mark.slow
def test_import_under_legacy_keras_fails_and_names_what_works():
    """In a fresh process with TF_USE_LEGACY_KERAS=1: `import keras` is still Keras 3
    but `tf.keras` is tf_keras, and importing the package raises ImportError."""
    script = textwrap.dedent(
        f"""
        import importlib.util, keras, tensorflow as tf
        print("keras", keras.__version__.split(".")[0], "tf.keras", tf.keras.__name__.split(".")[0])
        # the helper alone (the package itself refuses to import): tf.keras is tf_keras
        spec = importlib.util.spec_from_file_location("h", {str(REPO_ROOT / "keras_applications_bn" / "_models" / "tf_keras.py")!r})
        helper = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(helper)
        print("detected", [helper.is_tf_keras(o) for o in (tf.keras, tf.keras.layers, tf.keras.layers.Dense(2), keras)])
        try:
            import keras_applications_bn
        except ImportError as e:
            print("ImportError:", e)
        """
    )
    env = dict(python_env(), TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "keras 3 tf.keras tf_keras" in proc.stdout
    assert "detected [True, True, True, False]" in proc.stdout
    assert "ImportError: TF_USE_LEGACY_KERAS=1 makes `tf.keras` tf_keras (Keras 2)" in proc.stdout
    assert "Unset TF_USE_LEGACY_KERAS" in proc.stdout
