"""Weights saved from keras.applications in the official layout load into ours."""

import dataclasses
import hashlib

import keras
import numpy as np
import pytest

from keras_applications_bn import weights as weights_lib

from architectures import ARCHITECTURES, images, randomize_bn, save_official_layout

CASES = [
    (arch, include_top, pooling)
    for arch in ARCHITECTURES
    for include_top, pooling in ((True, None), (False, None), (False, "avg"), (False, "max"))
]


@pytest.mark.parametrize(
    "arch,include_top,pooling",
    CASES,
    ids=[f"{a}-{'top' if t else 'notop'}-{p}" for a, t, p in CASES],
)
def test_official_layout_loads_with_same_outputs(arch, include_top, pooling, tmp_path):
    kwargs = dict(include_top=include_top, input_shape=arch.shape, pooling=pooling)
    reference = randomize_bn(arch.keras(weights=None, **kwargs), seed=1)
    if include_top:  # make the classifier matter too
        dense = reference.get_layer("predictions")
        w, b = dense.get_weights()
        dense.set_weights([np.random.default_rng(2).normal(0, 0.05, w.shape).astype("float32"), b])
    path = save_official_layout(reference, tmp_path / "official_layout.h5")

    ours = arch.ours(weights=str(path), inference_bn=True, **kwargs)
    x = images(arch.shape, n=2, seed=3)
    expected = keras.ops.convert_to_numpy(reference(x, training=False))
    # pinned: even a training-mode call gives Keras' inference outputs
    np.testing.assert_allclose(ours(x, training=True), expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-6)


def test_imagenet_weights_through_the_loader(tmp_path, http_server, monkeypatch, isolated_keras_home):
    """weights="imagenet": registry -> mirror -> hash check -> cache -> load."""
    arch = ARCHITECTURES[0]
    reference = randomize_bn(arch.keras(weights=None, include_top=False), seed=4)
    local = save_official_layout(reference, tmp_path / "w.h5")
    entry = weights_lib.get(f"{arch.module}_notop")
    http_server.put(entry.path, local.read_bytes())
    digest = hashlib.sha256(local.read_bytes()).hexdigest()
    # the official hash cannot match a file made here: pin this file's sha256 instead
    monkeypatch.setitem(weights_lib.REGISTRY, entry.name, dataclasses.replace(entry, file_hash=digest))
    monkeypatch.setenv("KERAS_APPLICATIONS_BN_MIRROR", http_server.base_url)

    ours = arch.ours(weights="imagenet", include_top=False, input_shape=arch.shape, inference_bn=True)
    cached = isolated_keras_home / "models" / entry.fname
    assert cached.is_file() and http_server.requests == ["/" + entry.path]
    x = images(arch.shape, n=2)
    reference_small = arch.keras(weights=None, include_top=False, input_shape=arch.shape)
    reference_small.set_weights(reference.get_weights())
    np.testing.assert_allclose(ours(x, training=True), reference_small(x, training=False), rtol=1e-4, atol=1e-6)

    # a second model comes from the cache, offline
    monkeypatch.setenv("KERAS_APPLICATIONS_BN_OFFLINE", "1")
    arch.ours(weights="imagenet", include_top=False, input_shape=arch.shape)
    assert len(http_server.requests) == 1


def test_wrong_architecture_file_gives_clear_error(tmp_path):
    arch = ARCHITECTURES[0]
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="d")])
    path = save_official_layout(other, tmp_path / "other.h5")
    with pytest.raises(ValueError, match="Could not load weights"):
        arch.ours(weights=str(path), include_top=False, input_shape=arch.shape)
