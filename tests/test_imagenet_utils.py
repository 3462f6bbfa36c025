"""Preprocessing, decoding, and the argument checks shared by every model."""

import dataclasses
import hashlib

import keras
import numpy as np
import pytest

from keras_applications_bn import imagenet_utils, weights as weights_lib
from keras_applications_bn.resnet50 import ResNet50, preprocess_input as resnet_preprocess

from conftest import synthetic_class_index

# the generator's output, pinned: a change to it must be deliberate
SYNTHETIC_INDEX_MD5 = "5e9a62d0bf4ef346114f8614ad43ff27"


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("rank", [3, 4])
@pytest.mark.parametrize("kind", ["numpy", "tensor"])
def test_preprocess_matches_keras(mode, data_format, rank, kind):
    shape = (2, 5, 6, 3) if data_format == "channels_last" else (2, 3, 5, 6)
    x = np.random.default_rng(0).uniform(0, 255, shape).astype("float32")
    if rank == 3:
        x = x[0]
    expected = keras.applications.imagenet_utils.preprocess_input(x.copy(), data_format=data_format, mode=mode)
    original = x.copy()
    arg = x if kind == "numpy" else keras.ops.convert_to_tensor(x)
    got = imagenet_utils.preprocess_input(arg, data_format=data_format, mode=mode)
    assert isinstance(got, np.ndarray) == (kind == "numpy")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(got), keras.ops.convert_to_numpy(expected), rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(x, original)  # never modified in place


def test_preprocess_integer_images_and_lists():
    x = np.random.default_rng(1).integers(0, 256, (1, 4, 4, 3)).astype("uint8")
    got = resnet_preprocess(x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got[..., 0], x[..., 2] - 103.939, atol=1e-4)
    np.testing.assert_allclose(resnet_preprocess(x.tolist()), got)
    assert "caffe" in resnet_preprocess.__doc__


def test_preprocess_rejects_bad_arguments():
    x = np.zeros((1, 4, 4, 3), "float32")
    with pytest.raises(ValueError, match="mode"):
        imagenet_utils.preprocess_input(x, mode="pytorch")
    with pytest.raises(ValueError, match="data_format"):
        imagenet_utils.preprocess_input(x, data_format="NHWC")
    with pytest.raises(ValueError, match="3D"):
        imagenet_utils.preprocess_input(np.zeros((4, 3)), mode="tf")


@pytest.fixture
def class_index_server(http_server, monkeypatch):
    """A synthetic class index served through the mirror, pinned by its own hash."""
    data = synthetic_class_index()
    assert hashlib.md5(data).hexdigest() == SYNTHETIC_INDEX_MD5
    entry = weights_lib.get("imagenet_class_index")
    http_server.put(entry.path, data)
    monkeypatch.setitem(
        weights_lib.REGISTRY, entry.name, dataclasses.replace(entry, file_hash=hashlib.md5(data).hexdigest())
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
        weights_lib.REGISTRY, entry.name, dataclasses.replace(entry, file_hash=hashlib.md5(data).hexdigest())
    )
    monkeypatch.setattr(imagenet_utils, "_class_index", None)
    monkeypatch.setenv("KERAS_APPLICATIONS_BN_OFFLINE", "1")
    preds = np.eye(1000, dtype="float32")[:1]
    assert imagenet_utils.decode_predictions(preds, top=1)[0][0][1] == "class_000"


def test_decode_predictions_offline_and_missing(monkeypatch):
    monkeypatch.setattr(imagenet_utils, "_class_index", None)
    monkeypatch.setenv("KERAS_APPLICATIONS_BN_OFFLINE", "1")
    with pytest.raises(weights_lib.WeightsError, match="imagenet_class_index.json.*KERAS_APPLICATIONS_BN_OFFLINE"):
        imagenet_utils.decode_predictions(np.zeros((1, 1000)))


def test_decode_predictions_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\(samples, 1000\)"):
        imagenet_utils.decode_predictions(np.zeros((2, 10)))
    with pytest.raises(ValueError, match="top"):
        imagenet_utils.decode_predictions(np.zeros((1, 1000)), top=0)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(weights=None, include_top=False, input_shape=(31, 64, 3)), ValueError, "at least 32x32"),
        (dict(weights="imagenet", include_top=False, input_shape=(64, 64, 1)), ValueError, "3 input channels"),
        (dict(weights="imagenet", include_top=True, input_shape=(64, 64, 3)), ValueError, r"\(224, 224, 3\)"),
        (dict(weights="imagenet", include_top=True, classes=10), ValueError, "classes"),
        (dict(weights="imagenet", classifier_activation="relu"), ValueError, "classifier_activation"),
        (dict(weights="imagnet"), ValueError, "not found.*'imagenet'"),
        (dict(weights="/no/such/file.h5"), ValueError, "not found"),
        (dict(weights=3), TypeError, "weights"),
        (dict(weights=None, include_top=False, pooling="mean"), ValueError, "pooling"),
        (dict(weights=None, include_top="no"), TypeError, "include_top"),
        (dict(weights=None, include_top=False, input_shape=(64, 64)), ValueError, "3 entries"),
        (dict(weights=None, include_top=True, input_shape=(None, None, 3)), ValueError, "static size"),
    ],
)
def test_model_arguments_are_validated_before_any_download(kwargs, error, match, http_server, monkeypatch):
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
    assert imagenet_utils.obtain_input_shape(None, default_size=224, min_size=32, include_top=True, weights=None) == (224, 224, 3)
    assert imagenet_utils.obtain_input_shape(None, default_size=224, min_size=32, include_top=False, weights="imagenet") == (None, None, 3)
    assert imagenet_utils.obtain_input_shape(
        (3, 64, 64), default_size=224, min_size=32, include_top=False, weights=None, data_format="channels_first"
    ) == (3, 64, 64)
