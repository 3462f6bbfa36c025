"""Preprocessing, decoding, and the argument checks shared by every model."""

import dataclasses
import hashlib
import importlib

import keras
import numpy as np
import pytest

from keras_applications_bn import imagenet_utils
from keras_applications_bn import weights as weights_lib
from keras_applications_bn.resnet50 import ResNet50
from keras_applications_bn.resnet50 import preprocess_input as resnet_preprocess

from conftest import synthetic_class_index

# the generator's output, pinned: a change to it must be deliberate
SYNTHETIC_INDEX_MD5 = "5e9a62d0bf4ef346114f8614ad43ff27"


DTYPES = ["float32", "float64", "float16", "uint8", "int32"]

# every family module and its keras.applications twin; mode None: Keras' returns
# its input unchanged (the model preprocesses itself)
MODULES = {
    "resnet": "caffe",
    "resnet50": "caffe",
    "vgg16": "caffe",
    "vgg19": "caffe",
    "resnet_v2": "tf",
    "inception_v3": "tf",
    "inception_resnet_v2": "tf",
    "xception": "tf",
    "mobilenet": "tf",
    "mobilenet_v2": "tf",
    "nasnet": "tf",
    "densenet": "torch",
    "mobilenet_v3": None,
    "efficientnet": None,
    "efficientnet_v2": None,
}


def _images(dtype, data_format, rank, seed=0):
    shape = (2, 5, 6, 3) if data_format == "channels_last" else (2, 3, 5, 6)
    x = np.random.default_rng(seed).uniform(0, 255, shape).astype(dtype)
    return x[0].copy() if rank == 3 else x


def _compare_with_keras(ours, theirs, x, **kwargs):
    """Call both functions on identical copies of ``x``; assert the same result,
    dtype and type, and the same effect on the argument (in place or not)."""
    mine, keras_own = x.copy(), x.copy()
    if kwargs.pop("tensor", False):
        mine, keras_own = keras.ops.convert_to_tensor(mine), keras.ops.convert_to_tensor(keras_own)
    got, expected = ours(mine, **kwargs), theirs(keras_own, **kwargs)
    assert type(got) is type(expected)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(got), keras.ops.convert_to_numpy(expected)
    )
    # the argument itself: overwritten exactly as Keras overwrites it, or untouched
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(mine), keras.ops.convert_to_numpy(keras_own)
    )
    assert (got is mine) == (expected is keras_own)
    if isinstance(x, np.ndarray):
        assert np.shares_memory(got, mine) == np.shares_memory(expected, keras_own)
    return mine, got


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_preprocess_matches_keras_in_place_and_result(mode, data_format):
    """Every dtype Keras accepts, NumPy and tensor, 3D and 4D: bit-identical result,
    and the argument modified in place exactly where Keras modifies it."""
    ours = imagenet_utils.preprocess_input
    theirs = keras.applications.imagenet_utils.preprocess_input
    for dtype in DTYPES:
        for rank in (3, 4):
            x = _images(dtype, data_format, rank)
            mine, got = _compare_with_keras(ours, theirs, x, data_format=data_format, mode=mode)
            in_place = dtype.startswith("float")
            assert np.array_equal(mine, x) != in_place, (dtype, rank)  # Keras' contract
            if in_place and mode != "caffe":
                assert got is mine
            if dtype.startswith("float"):  # Keras' tensor path takes float tensors only
                _compare_with_keras(
                    ours, theirs, x, data_format=data_format, mode=mode, tensor=True
                )


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_preprocess_input_matches_its_keras_twin(module):
    ours = importlib.import_module(f"keras_applications_bn.{module}").preprocess_input
    theirs = importlib.import_module(f"keras.applications.{module}").preprocess_input
    for dtype in ("float32", "uint8"):
        x = _images(dtype, "channels_last", 4)
        mine, got = _compare_with_keras(ours, theirs, x)
        if MODULES[module] is None:
            assert got is mine  # the identity, as Keras'
        else:
            assert not np.array_equal(got, x)
    _compare_with_keras(
        ours, theirs, _images("float32", "channels_first", 4), data_format="channels_first"
    )
    _compare_with_keras(ours, theirs, _images("float16", "channels_last", 4), tensor=True)


def test_preprocess_symbolic_input_matches_keras():
    for mode in ("caffe", "tf", "torch"):
        inputs = keras.Input((5, 6, 3))
        got = imagenet_utils.preprocess_input(inputs, mode=mode)
        expected = keras.applications.imagenet_utils.preprocess_input(inputs, mode=mode)
        assert keras.backend.is_keras_tensor(got) and got.shape == expected.shape == (None, 5, 6, 3)
        x = _images("float32", "channels_last", 4)
        np.testing.assert_array_equal(
            keras.Model(inputs, got).predict(x, verbose=0),
            keras.Model(inputs, expected).predict(x, verbose=0),
        )


def test_preprocess_inputs_keras_refuses():
    """Deliberate differences (README): lists and integer tensors are preprocessed
    as the same images in a float NumPy array would be; Keras raises for lists and
    integer tensors in 'tf'/'torch' mode, and in 'caffe' mode returns an integer
    tensor with the mean wrapped around."""
    theirs = keras.applications.imagenet_utils.preprocess_input
    x = _images("uint8", "channels_last", 4)
    for mode in ("caffe", "tf", "torch"):
        expected = theirs(x.astype("float32"), mode=mode)
        with pytest.raises(AttributeError):
            theirs(x.tolist(), mode=mode)
        from_list = imagenet_utils.preprocess_input(x.tolist(), mode=mode)
        assert isinstance(from_list, np.ndarray)
        np.testing.assert_allclose(from_list, expected, rtol=1e-6, atol=1e-4)  # float64 from a list
        from_int_tensor = imagenet_utils.preprocess_input(keras.ops.convert_to_tensor(x), mode=mode)
        assert from_int_tensor.dtype == keras.config.floatx()
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(from_int_tensor), expected)
    assert not keras.backend.is_float_dtype(
        theirs(keras.ops.convert_to_tensor(x), mode="caffe").dtype
    )


def test_preprocess_integer_images_and_lists():
    x = np.random.default_rng(1).integers(0, 256, (1, 4, 4, 3)).astype("uint8")
    got = resnet_preprocess(x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got[..., 0], x[..., 2] - 103.939, atol=1e-4)
    np.testing.assert_allclose(resnet_preprocess(x.tolist()), got)
    assert "caffe" in resnet_preprocess.__doc__


def test_preprocess_rejects_bad_arguments_before_modifying_anything():
    x = np.full((1, 4, 4, 3), 100.0, "float32")
    with pytest.raises(ValueError, match="mode"):
        imagenet_utils.preprocess_input(x, mode="pytorch")
    with pytest.raises(ValueError, match="data_format"):
        imagenet_utils.preprocess_input(x, data_format="NHWC")
    with pytest.raises(ValueError, match="3D"):
        imagenet_utils.preprocess_input(np.zeros((4, 3)), mode="tf")
    for mode in ("caffe", "torch"):  # the channels are on the other axis
        with pytest.raises(ValueError, match="3 colour channels.*data_format"):
            imagenet_utils.preprocess_input(x, mode=mode, data_format="channels_first")
    assert (x == 100.0).all()
    frozen = x.copy()
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match=r"read-only.*x\.copy\(\)"):
        imagenet_utils.preprocess_input(frozen, mode="tf")
    # tf mode scales every channel: any channel count, as in Keras
    four = np.full((1, 2, 2, 4), 255.0, "float32")
    assert (imagenet_utils.preprocess_input(four, mode="tf") == 1.0).all()


@pytest.fixture
def class_index_server(http_server, monkeypatch):
    """A synthetic class index served through the mirror, pinned by its own hash."""
    data = synthetic_class_index()
    assert hashlib.md5(data).hexdigest() == SYNTHETIC_INDEX_MD5
    entry = weights_lib.get("imagenet_class_index")
    http_server.put(entry.path, data)
    monkeypatch.setitem(
        weights_lib.REGISTRY,
        entry.name,
        dataclasses.replace(entry, file_hash=hashlib.md5(data).hexdigest()),
    )
    monkeypatch.setenv("KERAS_APPLICATIONS_BN_MIRROR", http_server.base_url)
    monkeypatch.setattr(imagenet_utils, "_class_index", None)
    return http_server


def test_decode_predictions(class_index_server, isolated_keras_home):
    preds = np.zeros((2, 1000), "float32")
    preds[0, [1, 2, 3]] = [0.1, 0.7, 0.2]
    preds[1, 999] = 1.0
    result = imagenet_utils.decode_predictions(preds, top=3)
    assert [r[1] for r in result[0]] == ["class_002", "class_003", "class_001"]
    assert result[0][0][0] == "n00000003" and result[0][0][2] == pytest.approx(0.7)
    assert result[1][0][:2] == ("n00001000", "class_999")
    assert (isolated_keras_home / "models" / "imagenet_class_index.json").is_file()
    assert len(class_index_server.requests) == 1


def test_decode_predictions_reuses_keras_cache_offline(isolated_keras_home, monkeypatch):
    """A Keras cache that already holds the official file is used, offline."""
    cache = isolated_keras_home / "models"
    cache.mkdir(exist_ok=True)
    data = synthetic_class_index()
    (cache / "imagenet_class_index.json").write_bytes(data)
    entry = weights_lib.get("imagenet_class_index")
    # the synthetic index is not the official file; pin its own hash
    monkeypatch.setitem(
        weights_lib.REGISTRY,
        entry.name,
        dataclasses.replace(entry, file_hash=hashlib.md5(data).hexdigest()),
    )
    monkeypatch.setattr(imagenet_utils, "_class_index", None)
    monkeypatch.setenv("KERAS_APPLICATIONS_BN_OFFLINE", "1")
    preds = np.eye(1000, dtype="float32")[:1]
    assert imagenet_utils.decode_predictions(preds, top=1)[0][0][1] == "class_000"


def test_decode_predictions_offline_and_missing(monkeypatch):
    monkeypatch.setattr(imagenet_utils, "_class_index", None)
    monkeypatch.setenv("KERAS_APPLICATIONS_BN_OFFLINE", "1")
    with pytest.raises(
        weights_lib.WeightsError, match="imagenet_class_index.json.*KERAS_APPLICATIONS_BN_OFFLINE"
    ):
        imagenet_utils.decode_predictions(np.zeros((1, 1000)))


def test_decode_predictions_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\(samples, 1000\)"):
        imagenet_utils.decode_predictions(np.zeros((2, 10)))
    with pytest.raises(ValueError, match="top"):
        imagenet_utils.decode_predictions(np.zeros((1, 1000)), top=0)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (
            dict(weights=None, include_top=False, input_shape=(31, 64, 3)),
            ValueError,
            "at least 32x32",
        ),
        (
            dict(weights="imagenet", include_top=False, input_shape=(64, 64, 1)),
            ValueError,
            "3 input channels",
        ),
        (
            dict(weights="imagenet", include_top=True, input_shape=(64, 64, 3)),
            ValueError,
            r"\(224, 224, 3\)",
        ),
        (dict(weights="imagenet", include_top=True, classes=10), ValueError, "classes"),
        (
            dict(weights="imagenet", classifier_activation="relu"),
            ValueError,
            "classifier_activation",
        ),
        (dict(weights="imagnet"), ValueError, "not found.*'imagenet'"),
        (dict(weights="/no/such/file.h5"), ValueError, "not found"),
        (dict(weights=3), TypeError, "weights"),
        (dict(weights=None, include_top=False, pooling="mean"), ValueError, "pooling"),
        (dict(weights=None, include_top="no"), TypeError, "include_top"),
        (dict(weights=None, include_top=False, input_shape=(64, 64)), ValueError, "3 entries"),
        (
            dict(weights=None, include_top=True, input_shape=(None, None, 3)),
            ValueError,
            "static size",
        ),
    ],
)
def test_model_arguments_are_validated_before_any_download(
    kwargs, error, match, http_server, monkeypatch
):
    monkeypatch.setenv("KERAS_APPLICATIONS_BN_MIRROR", http_server.base_url)
    with pytest.raises(error, match=match):
        ResNet50(**kwargs)
    assert http_server.requests == []


def test_input_tensor_shape_is_validated_and_used():
    tensor = keras.Input((48, 48, 3))
    model = ResNet50(weights=None, include_top=False, input_tensor=tensor, pooling="avg")
    assert model.inputs[0] is tensor and model.output.shape == (None, 2048)
    with pytest.raises(ValueError, match="at least 32x32"):
        ResNet50(weights=None, include_top=False, input_tensor=keras.Input((16, 16, 3)))


def test_default_shapes_follow_keras():
    assert imagenet_utils.obtain_input_shape(
        None, default_size=224, min_size=32, include_top=True, weights=None
    ) == (224, 224, 3)
    assert imagenet_utils.obtain_input_shape(
        None, default_size=224, min_size=32, include_top=False, weights="imagenet"
    ) == (None, None, 3)
    assert imagenet_utils.obtain_input_shape(
        (3, 64, 64),
        default_size=224,
        min_size=32,
        include_top=False,
        weights=None,
        data_format="channels_first",
    ) == (3, 64, 64)
