"""Weights saved from keras.applications in the official layout load into ours,
and the registry lists every official file of each family as Keras pins it."""

import ast
import dataclasses
import hashlib
import inspect
import re

import keras
import numpy as np
import pytest

from keras_applications_bn import weights as weights_lib
from keras_applications_bn.batchnorm import bn_layers

from architectures import (
    ARCHITECTURES,
    Arch,
    assert_same_outputs,
    images,
    randomize_bn,
    save_official_layout,
)

CASES = [
    (arch, include_top, pooling)
    for arch in ARCHITECTURES
    for include_top, pooling in (
        ((True, None), (False, None), (False, "avg"), (False, "max")) if arch.contract else ((True, None),)
    )
]

MOBILENET_VARIANTS = [
    Arch("mobilenet-a0.5", "mobilenet", "MobileNet", (32, 32, 3), {"alpha": 0.5}),
    Arch("mobilenet-a0.75-dm2", "mobilenet", "MobileNet", (40, 32, 3), {"alpha": 0.75, "depth_multiplier": 2}),
    Arch("mobilenet-a1.0-dropout0.5", "mobilenet", "MobileNet", (32, 32, 3), {"alpha": 1.0, "dropout": 0.5}),
]


def randomize_top(model):
    """Random weights for the classifier (the last layer with weights), so it matters."""
    top = [layer for layer in model.layers if layer.weights][-1]
    kernel, bias = top.get_weights()
    top.set_weights([np.random.default_rng(2).normal(0, 0.05, kernel.shape).astype("float32"), bias])


def check_official_layout_loads(arch, tmp_path, **kwargs):
    """Keras' model in the official h5 layout -> ours (pinned): the same outputs."""
    kwargs = dict(input_shape=arch.shape, **kwargs)
    if kwargs.get("include_top"):
        # compare logits: a near-saturated softmax turns float32 rounding noise
        # (eager vs compiled, oneDNN) into relative errors far above 1e-4
        kwargs["classifier_activation"] = None
    reference = randomize_bn(arch.keras(weights=None, **kwargs), seed=1)
    if kwargs.get("include_top"):
        randomize_top(reference)
    path = save_official_layout(reference, tmp_path / "official_layout.h5")

    ours = arch.ours(weights=str(path), inference_bn=True, **kwargs)
    # every BN layer of Keras' model is here, pinned (models without BN have none)
    assert [l.inference_mode for l in bn_layers(ours)] == [True] * len(bn_layers(reference))
    assert bool(bn_layers(ours)) == arch.has_bn
    x = images(arch.shape, n=2, seed=3)
    expected = keras.ops.convert_to_numpy(reference(x, training=False))
    # pinned: even a training-mode call gives Keras' inference outputs (unless
    # the model has dropout, which a training-mode call applies)
    dropout = any(isinstance(layer, keras.layers.Dropout) for layer in ours.layers)
    assert_same_outputs(ours(x, training=not dropout), expected, rtol=arch.rtol)
    assert_same_outputs(ours.predict(x, verbose=0), expected, rtol=arch.rtol)
    return ours, reference


@pytest.mark.parametrize(
    "arch,include_top,pooling",
    CASES,
    ids=[f"{a}-{'top' if t else 'notop'}-{p}" for a, t, p in CASES],
)
def test_official_layout_loads_with_same_outputs(arch, include_top, pooling, tmp_path):
    check_official_layout_loads(arch, tmp_path, include_top=include_top, pooling=pooling)


@pytest.mark.parametrize("arch", MOBILENET_VARIANTS, ids=str)
def test_mobilenet_variants_load_with_same_outputs(arch, tmp_path):
    ours, reference = check_official_layout_loads(arch, tmp_path, include_top=True)
    assert ours.get_layer("dropout").rate == reference.get_layer("dropout").rate
    assert ours.name == reference.name


@pytest.mark.parametrize("arch", ARCHITECTURES, ids=str)
def test_same_layers_as_keras_with_top(arch):
    """Class, name, order and weight shapes of every layer, classifier included."""
    kwargs = dict(weights=None, include_top=True, input_shape=arch.shape)
    assert arch.layer_table(arch.ours, **kwargs) == arch.layer_table(arch.keras, **kwargs)


def served_official_layout(http_server, tmp_path, key, model):
    """Serve ``model``'s weights, official layout, where registry file ``key`` lives."""
    local = save_official_layout(model, tmp_path / f"{key}.h5")
    entry = weights_lib.get(key)
    http_server.put(entry.path, local.read_bytes())
    return entry, local


def test_imagenet_weights_through_the_loader(tmp_path, http_server, monkeypatch, isolated_keras_home):
    """weights="imagenet": registry -> mirror -> hash check -> cache -> load."""
    arch = ARCHITECTURES[0]
    reference = randomize_bn(arch.keras(weights=None, include_top=False, input_shape=arch.shape), seed=4)
    entry, local = served_official_layout(http_server, tmp_path, f"{arch.module}_notop", reference)
    digest = hashlib.sha256(local.read_bytes()).hexdigest()
    # the official hash cannot match a file made here: pin this file's sha256 instead
    monkeypatch.setitem(weights_lib.REGISTRY, entry.name, dataclasses.replace(entry, file_hash=digest))
    monkeypatch.setenv("KERAS_APPLICATIONS_BN_MIRROR", http_server.base_url)

    ours = arch.ours(weights="imagenet", include_top=False, input_shape=arch.shape, inference_bn=True)
    cached = isolated_keras_home / "models" / entry.fname
    assert cached.is_file() and http_server.requests == ["/" + entry.path]
    x = images(arch.shape, n=2)
    assert_same_outputs(ours(x, training=True), reference(x, training=False))

    # a second model comes from the cache, offline
    monkeypatch.setenv("KERAS_APPLICATIONS_BN_OFFLINE", "1")
    arch.ours(weights="imagenet", include_top=False, input_shape=arch.shape)
    assert len(http_server.requests) == 1


def test_mobilenet_imagenet_picks_the_file_of_its_alpha_and_size(tmp_path, http_server, monkeypatch):
    """The registry key follows alpha and the input size; other sizes fall back to
    the 224 file with a warning, as in Keras. MobileNet files have no pinned hash."""
    from keras_applications_bn.mobilenet import MobileNet

    monkeypatch.setenv("KERAS_APPLICATIONS_BN_MIRROR", http_server.base_url)
    top = randomize_bn(keras.applications.MobileNet(weights=None, alpha=0.25, input_shape=(128, 128, 3)), seed=5)
    randomize_top(top)
    entry, _ = served_official_layout(http_server, tmp_path, "mobilenet_2_5_128", top)
    assert entry.file_hash is None

    ours = MobileNet(weights="imagenet", alpha=0.25, input_shape=(128, 128, 3), inference_bn=True)
    assert http_server.requests == ["/tensorflow/keras-applications/mobilenet/mobilenet_2_5_128_tf.h5"]
    assert ours.name == "mobilenet_0.25_128"
    x = images((128, 128, 3), n=2)
    assert_same_outputs(ours(x), top(x, training=False))

    headless = randomize_bn(
        keras.applications.MobileNet(weights=None, alpha=0.25, include_top=False, input_shape=(96, 96, 3)), seed=6
    )
    served_official_layout(http_server, tmp_path, "mobilenet_2_5_224_notop", headless)
    with pytest.warns(UserWarning, match="weights for 224x224"):
        ours = MobileNet(weights="imagenet", alpha=0.25, include_top=False, input_shape=(96, 96, 3))
    assert http_server.requests[-1] == "/tensorflow/keras-applications/mobilenet/mobilenet_2_5_224_tf_no_top.h5"
    assert ours.name == "mobilenet_0.25_224"
    x = images((96, 96, 3), n=2)
    assert_same_outputs(ours(x), headless(x, training=False))


def test_wrong_architecture_file_gives_clear_error(tmp_path):
    arch = ARCHITECTURES[0]
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="d")])
    path = save_official_layout(other, tmp_path / "other.h5")
    with pytest.raises(ValueError, match="Could not load weights"):
        arch.ours(weights=str(path), include_top=False, input_shape=arch.shape)


# --------------------------------------------------------------------------
# The registry against the files and hashes in Keras' own source
# --------------------------------------------------------------------------


def keras_pins(module):
    """``{file name: hash}`` of every ``get_file(name, url, ..., file_hash=...)``
    call in a keras.applications module's source."""
    source = inspect.getsource(module)
    calls = re.findall(r'get_file\(\s*"([^"]+)",\s*\w+,\s*cache_subdir="models",\s*file_hash="(\w+)"', source)
    return dict(calls)


@pytest.mark.parametrize("family", ["vgg16", "vgg19", "inception_v3", "xception"])
def test_registry_has_the_official_files_and_hashes(family):
    from keras.src import applications

    module = getattr(applications, family)
    top, notop = weights_lib.get(family), weights_lib.get(f"{family}_notop")
    assert (top.url, notop.url) == (module.WEIGHTS_PATH, module.WEIGHTS_PATH_NO_TOP)
    assert keras_pins(module) == {top.fname: top.file_hash, notop.fname: notop.file_hash}
    assert (top.include_top, notop.include_top) == (True, False)


def test_registry_has_the_resnet50_files_and_hashes():
    from keras.src.applications import resnet

    top, notop = weights_lib.get("resnet50"), weights_lib.get("resnet50_notop")
    assert (top.file_hash, notop.file_hash) == resnet.WEIGHTS_HASHES["resnet50"]
    assert top.url == resnet.BASE_WEIGHTS_PATH + top.fname
    assert notop.url == resnet.BASE_WEIGHTS_PATH + notop.fname


def test_registry_has_every_mobilenet_file_without_hash():
    from keras.src.applications import mobilenet

    assert "file_hash" not in inspect.getsource(mobilenet)  # Keras pins none
    entries = [e for e in weights_lib.REGISTRY.values() if e.model == "MobileNet"]
    expected = {
        f"mobilenet_{a}_{size}_tf{suffix}.h5"
        for a in ("1_0", "7_5", "5_0", "2_5")
        for size in (128, 160, 192, 224)
        for suffix in ("", "_no_top")
    }
    assert len(entries) == 32 and {e.fname for e in entries} == expected
    for e in entries:
        assert e.url == mobilenet.BASE_WEIGHT_PATH + e.fname
        assert e.file_hash is None
        assert e.include_top == (not e.fname.endswith("_no_top.h5"))
        assert e.name.endswith("_notop") == (not e.include_top)


RESNET_MODELS = ("ResNet50", "ResNet101", "ResNet152", "ResNet50V2", "ResNet101V2", "ResNet152V2")


def test_registry_has_every_resnet_file_and_hash():
    """ResNet and ResNetV2 files: Keras' names, URLs and md5 hashes, two per model."""
    from keras.src.applications import resnet

    entries = [e for e in weights_lib.REGISTRY.values() if e.model in RESNET_MODELS]
    keys = [model.lower() for model in RESNET_MODELS]
    assert sorted(e.name for e in entries) == sorted(keys + [f"{k}_notop" for k in keys])
    for key, model in zip(keys, RESNET_MODELS):
        top, notop = weights_lib.get(key), weights_lib.get(f"{key}_notop")
        assert (top.file_hash, notop.file_hash) == resnet.WEIGHTS_HASHES[key]
        assert top.fname == f"{key}_weights_tf_dim_ordering_tf_kernels.h5"
        assert notop.fname == f"{key}_weights_tf_dim_ordering_tf_kernels_notop.h5"
        assert (top.url, notop.url) == (resnet.BASE_WEIGHTS_PATH + top.fname, resnet.BASE_WEIGHTS_PATH + notop.fname)
        assert (top.model, notop.model) == (model, model)
        assert (top.include_top, notop.include_top) == (True, False)


def test_registry_has_the_inception_resnet_v2_files_and_hashes():
    """Keras builds these URLs from ``BASE_WEIGHT_URL + fname``: read the two
    ``fname`` values and the two pinned hashes (top first) from its source."""
    from keras.src.applications import inception_resnet_v2

    tree = ast.parse(inspect.getsource(inception_resnet_v2))
    fnames = [
        node.value.value for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "fname"
    ]
    hashes = [
        kw.value.value for node in ast.walk(tree) if isinstance(node, ast.Call)
        for kw in node.keywords if kw.arg == "file_hash"
    ]
    top, notop = weights_lib.get("inception_resnet_v2"), weights_lib.get("inception_resnet_v2_notop")
    assert [top.fname, notop.fname] == fnames
    assert [top.file_hash, notop.file_hash] == hashes
    assert (top.url, notop.url) == tuple(inception_resnet_v2.BASE_WEIGHT_URL + f for f in fnames)
    assert (top.include_top, notop.include_top) == (True, False)
