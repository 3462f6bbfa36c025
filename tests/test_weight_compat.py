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
from keras_applications_bn.layers import BatchNormalization

from architectures import (
    ARCHITECTURES,
    COMPAT_FAMILIES,
    COMPAT_STAGE,
    COMPAT_WEIGHT_FAMILIES,
    FORWARD,
    LARGE,
    Arch,
    assert_same_outputs,
    images,
    randomize_bn,
    save_official_layout,
)

#: every include_top/pooling case of the smallest member of each family, the top of
#: the others (those marked slow by conftest)
CASES = [
    (arch, include_top, pooling)
    for arch in FORWARD
    for include_top, pooling in (
        ((True, None), (False, None), (False, "avg"), (False, "max"))
        if arch.contract
        else ((True, None),)
    )
]

# The fast lane's headless case is pooling="avg": it compares every layer of the
# headless model (the pooling layer's name and class too), loads the notop
# layout and compares pooled outputs. pooling=None (the same model without its
# last layer) and "max" (the same shared helper, _models.builder.pooling_head,
# with the other class) run in the slow lane; MobileNetV2, which pools with its
# own code, keeps "max" fast too.
SLOW_POOLING = {None, "max"}


def case_marks(arch, include_top, pooling):
    if (
        not include_top
        and pooling in SLOW_POOLING
        and not (pooling == "max" and arch.fn == "MobileNetV2")
    ):
        return (pytest.mark.slow,)
    if (
        arch.id in COMPAT_WEIGHT_FAMILIES and include_top
    ):  # on each combination of `make test-compat`
        return (pytest.mark.compat,)
    return ()


# The fast lane checks one (another width, depth multiplier, a non-square input);
# the others, the same code with other values, run in the slow lane.
MOBILENET_VARIANTS = [
    pytest.param(
        Arch("mobilenet-a0.5", "mobilenet", "MobileNet", (32, 32, 3), {"alpha": 0.5}),
        marks=pytest.mark.slow,
        id="mobilenet-a0.5",
    ),
    pytest.param(
        Arch(
            "mobilenet-a0.75-dm2",
            "mobilenet",
            "MobileNet",
            (40, 32, 3),
            {"alpha": 0.75, "depth_multiplier": 2},
        ),
        id="mobilenet-a0.75-dm2",
    ),
    pytest.param(
        Arch(
            "mobilenet-a1.0-dropout0.5",
            "mobilenet",
            "MobileNet",
            (32, 32, 3),
            {"alpha": 1.0, "dropout": 0.5},
        ),
        marks=pytest.mark.slow,
        id="mobilenet-a1.0-dropout0.5",
    ),
]


def randomize_top(model):
    """Random weights for the classifier (the last layer with weights), so it matters."""
    top = [layer for layer in model.layers if layer.weights][-1]
    kernel, bias = top.get_weights()
    top.set_weights(
        [np.random.default_rng(2).normal(0, 0.05, kernel.shape).astype("float32"), bias]
    )


def check_official_layout_loads(arch, tmp_path, **kwargs):
    """Keras' model in the official h5 layout -> ours (pinned): the same layers
    (class, name, order, weight shapes) and the same outputs."""
    kwargs = dict(input_shape=arch.shape, **kwargs)
    if kwargs.get("include_top"):
        # compare logits: a near-saturated softmax turns float32 rounding noise
        # (eager vs compiled, oneDNN) into relative errors far above 1e-4
        kwargs["classifier_activation"] = None
    reference = arch.fresh(arch.keras, weights=None, **kwargs)
    expected_layers = arch.table(reference)
    randomize_bn(reference, seed=1)
    if kwargs.get("include_top"):
        randomize_top(reference)
    path = save_official_layout(reference, tmp_path / "official_layout.h5")

    ours = arch.fresh(arch.ours, weights=str(path), inference_bn=True, **kwargs)
    assert arch.table(ours) == expected_layers
    # every BN layer of Keras' model is here, ours and pinned (models without BN have none)
    assert [isinstance(l, BatchNormalization) and l.inference_mode for l in bn_layers(ours)] == [
        True
    ] * len(bn_layers(reference))
    assert bool(bn_layers(ours)) == arch.has_bn
    x = images(arch.shape, n=2, seed=3)
    expected = keras.ops.convert_to_numpy(reference(x, training=False))
    # pinned: even a training-mode call gives Keras' inference outputs (unless
    # the model has dropout, which a training-mode call applies)
    dropout = any(isinstance(layer, keras.layers.Dropout) for layer in ours.layers)
    assert_same_outputs(ours(x, training=not dropout), expected, rtol=arch.rtol)
    once_per_family = arch.contract and kwargs.get("include_top")
    if once_per_family and (not COMPAT_STAGE or arch.id in COMPAT_FAMILIES):
        # compiled against compiled: a compiled call rounds differently from an eager
        # one, and randomly initialised EfficientNetV2 amplifies that up to 15% (its
        # own eager and predict outputs differ so); ours and Keras' agree exactly
        assert_same_outputs(
            ours.predict(x, verbose=0), reference.predict(x, verbose=0), rtol=arch.rtol
        )
    return ours, reference


@pytest.mark.parametrize(
    "arch,include_top,pooling",
    [
        pytest.param(a, t, p, marks=case_marks(a, t, p), id=f"{a}-{'top' if t else 'notop'}-{p}")
        for a, t, p in CASES
    ],
)
def test_official_layout_loads_with_same_outputs(arch, include_top, pooling, tmp_path):
    check_official_layout_loads(arch, tmp_path, include_top=include_top, pooling=pooling)


@pytest.mark.parametrize("arch", MOBILENET_VARIANTS)
def test_mobilenet_variants_load_with_same_outputs(arch, tmp_path):
    ours, reference = check_official_layout_loads(arch, tmp_path, include_top=True)
    assert ours.get_layer("dropout").rate == reference.get_layer("dropout").rate
    assert ours.name == reference.name


@pytest.mark.parametrize("arch", LARGE, ids=str)
def test_large_model_same_layers_and_official_layout_lands_in_them(arch, tmp_path):
    """The largest members, each implementation built once: the same layer table
    as Keras (with the top), and every weight of Keras' model, saved in the
    official layout, loads into the layer of ours with the same name and config."""
    kwargs = dict(include_top=True, input_shape=arch.shape)
    keras.backend.clear_session()  # fresh automatic layer names in each build
    reference = arch.keras(weights=None, **kwargs)
    rng = np.random.default_rng(0)
    for w in reference.weights:  # distinct values everywhere, so a misplaced weight shows
        if w.shape:
            w.assign(rng.normal(size=w.shape).astype(w.dtype))
    path = save_official_layout(reference, tmp_path / "official_layout.h5")
    keras.backend.clear_session()
    ours = arch.ours(weights=str(path), inference_bn=True, **kwargs)
    assert arch.table(ours) == arch.table(reference)
    for a, b in zip(ours.layers, reference.layers):  # hyper-parameters too (rates, momenta)
        config = {
            k: v for k, v in a.get_config().items() if k not in ("requires", "inference_mode")
        }
        assert config == b.get_config()
        for u, v in zip(a.weights, b.weights):
            np.testing.assert_array_equal(u.numpy(), v.numpy())


def served_official_layout(http_server, tmp_path, key, model):
    """Serve ``model``'s weights, official layout, where registry file ``key`` lives."""
    local = save_official_layout(model, tmp_path / f"{key}.h5")
    entry = weights_lib.get(key)
    http_server.put(entry.path, local.read_bytes())
    return entry, local


def test_imagenet_weights_through_the_loader(
    tmp_path, http_server, monkeypatch, isolated_keras_home
):
    """weights="imagenet": registry -> mirror -> hash check -> cache -> load."""
    arch = ARCHITECTURES[0]
    reference = randomize_bn(
        arch.keras(weights=None, include_top=False, input_shape=arch.shape), seed=4
    )
    entry, local = served_official_layout(http_server, tmp_path, f"{arch.module}_notop", reference)
    digest = hashlib.sha256(local.read_bytes()).hexdigest()
    # the official hash cannot match a file made here: pin this file's sha256 instead
    monkeypatch.setitem(
        weights_lib.REGISTRY, entry.name, dataclasses.replace(entry, file_hash=digest)
    )
    monkeypatch.setenv("KERAS_APPLICATIONS_BN_MIRROR", http_server.base_url)

    ours = arch.ours(
        weights="imagenet", include_top=False, input_shape=arch.shape, inference_bn=True
    )
    cached = isolated_keras_home / "models" / entry.fname
    assert cached.is_file() and http_server.requests == ["/" + entry.path]
    x = images(arch.shape, n=2)
    assert_same_outputs(ours(x, training=True), reference(x, training=False))

    # a second model comes from the cache, offline
    monkeypatch.setenv("KERAS_APPLICATIONS_BN_OFFLINE", "1")
    arch.ours(weights="imagenet", include_top=False, input_shape=arch.shape)
    assert len(http_server.requests) == 1


def test_mobilenet_imagenet_picks_the_file_of_its_alpha_and_size(
    tmp_path, http_server, monkeypatch
):
    """The registry key follows alpha and the input size; other sizes fall back to
    the 224 file with a warning, as in Keras. MobileNet files have no pinned hash."""
    from keras_applications_bn.mobilenet import MobileNet

    monkeypatch.setenv("KERAS_APPLICATIONS_BN_MIRROR", http_server.base_url)
    top = randomize_bn(
        keras.applications.MobileNet(weights=None, alpha=0.25, input_shape=(128, 128, 3)), seed=5
    )
    randomize_top(top)
    entry, _ = served_official_layout(http_server, tmp_path, "mobilenet_2_5_128", top)
    assert entry.file_hash is None

    ours = MobileNet(weights="imagenet", alpha=0.25, input_shape=(128, 128, 3), inference_bn=True)
    assert http_server.requests == [
        "/tensorflow/keras-applications/mobilenet/mobilenet_2_5_128_tf.h5"
    ]
    assert ours.name == "mobilenet_0.25_128"
    x = images((128, 128, 3), n=2)
    assert_same_outputs(ours(x), top(x, training=False))

    headless = randomize_bn(
        keras.applications.MobileNet(
            weights=None, alpha=0.25, include_top=False, input_shape=(96, 96, 3)
        ),
        seed=6,
    )
    served_official_layout(http_server, tmp_path, "mobilenet_2_5_224_notop", headless)
    with pytest.warns(UserWarning, match="weights for 224x224"):
        ours = MobileNet(weights="imagenet", alpha=0.25, include_top=False, input_shape=(96, 96, 3))
    assert (
        http_server.requests[-1]
        == "/tensorflow/keras-applications/mobilenet/mobilenet_2_5_224_tf_no_top.h5"
    )
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
    calls = re.findall(
        r'get_file\(\s*"([^"]+)",\s*\w+,\s*cache_subdir="models",\s*file_hash="(\w+)"', source
    )
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
        assert (top.url, notop.url) == (
            resnet.BASE_WEIGHTS_PATH + top.fname,
            resnet.BASE_WEIGHTS_PATH + notop.fname,
        )
        assert (top.model, notop.model) == (model, model)
        assert (top.include_top, notop.include_top) == (True, False)


def test_registry_has_the_inception_resnet_v2_files_and_hashes():
    """Keras builds these URLs from ``BASE_WEIGHT_URL + fname``: read the two
    ``fname`` values and the two pinned hashes (top first) from its source."""
    from keras.src.applications import inception_resnet_v2

    tree = ast.parse(inspect.getsource(inception_resnet_v2))
    fnames = [
        node.value.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "fname"
    ]
    hashes = [
        kw.value.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        for kw in node.keywords
        if kw.arg == "file_hash"
    ]
    top, notop = (
        weights_lib.get("inception_resnet_v2"),
        weights_lib.get("inception_resnet_v2_notop"),
    )
    assert [top.fname, notop.fname] == fnames
    assert [top.file_hash, notop.file_hash] == hashes
    assert (top.url, notop.url) == tuple(inception_resnet_v2.BASE_WEIGHT_URL + f for f in fnames)
    assert (top.include_top, notop.include_top) == (True, False)


def keras_get_file_calls(module):
    """``[(cache file name, URL, hash)]`` of every ``get_file(name, URL_CONSTANT,
    cache_subdir="models", file_hash=...)`` call in a keras.applications module."""
    source = inspect.getsource(module)
    calls = re.findall(
        r'get_file\(\s*"([^"]+)",\s*(\w+),\s*cache_subdir="models",\s*file_hash="(\w+)"', source
    )
    return [(fname, getattr(module, constant), file_hash) for fname, constant, file_hash in calls]


@pytest.mark.parametrize(
    "family,keys",
    [
        ("densenet", ["densenet121", "densenet169", "densenet201"]),
        # Keras caches NASNet-mobile.h5 as nasnet_mobile.h5 (and so on): the registry's
        # fname is that cache name, its url the official one
        ("nasnet", ["nasnet_mobile", "nasnet_large"]),
    ],
)
def test_registry_has_the_keras_files_names_urls_and_hashes(family, keys):
    from keras.src import applications

    entries = [weights_lib.get(name) for key in keys for name in (key, f"{key}_notop")]
    expected = keras_get_file_calls(getattr(applications, family))
    assert len(expected) == len(entries)
    assert sorted((e.fname, e.url, e.file_hash) for e in entries) == sorted(expected)
    for key in keys:
        assert (weights_lib.get(key).include_top, weights_lib.get(f"{key}_notop").include_top) == (
            True,
            False,
        )
    models = {e.model for e in entries}
    assert models == {getattr(keras.applications, m).__name__ for m in models}


def test_nasnet_cache_names_differ_from_the_url_basenames():
    for key, url_name, cache_name in [
        ("nasnet_mobile", "NASNet-mobile.h5", "nasnet_mobile.h5"),
        ("nasnet_mobile_notop", "NASNet-mobile-no-top.h5", "nasnet_mobile_no_top.h5"),
        ("nasnet_large", "NASNet-large.h5", "nasnet_large.h5"),
        ("nasnet_large_notop", "NASNet-large-no-top.h5", "nasnet_large_no_top.h5"),
    ]:
        entry = weights_lib.get(key)
        assert entry.url.rsplit("/", 1)[-1] == url_name and entry.fname == cache_name


def test_nasnet_imagenet_weights_cached_under_keras_name(
    tmp_path, http_server, monkeypatch, isolated_keras_home
):
    """NASNet-mobile-no-top.h5 is downloaded from its official path and cached as
    nasnet_mobile_no_top.h5, where Keras looks for it; the file loads by layer order."""
    from keras_applications_bn.nasnet import NASNetMobile

    shape = (32, 32, 3)
    reference = randomize_bn(
        keras.applications.NASNetMobile(weights=None, include_top=False, input_shape=shape), seed=7
    )
    entry, local = served_official_layout(http_server, tmp_path, "nasnet_mobile_notop", reference)
    digest = hashlib.sha256(local.read_bytes()).hexdigest()
    monkeypatch.setitem(
        weights_lib.REGISTRY, entry.name, dataclasses.replace(entry, file_hash=digest)
    )
    monkeypatch.setenv("KERAS_APPLICATIONS_BN_MIRROR", http_server.base_url)

    ours = NASNetMobile(weights="imagenet", include_top=False, input_shape=shape, inference_bn=True)
    assert http_server.requests == ["/tensorflow/keras-applications/nasnet/NASNet-mobile-no-top.h5"]
    assert (isolated_keras_home / "models" / "nasnet_mobile_no_top.h5").is_file()
    assert not (isolated_keras_home / "models" / "NASNet-mobile-no-top.h5").exists()
    x = images(shape, n=2)
    assert_same_outputs(ours(x, training=True), reference(x, training=False))


@pytest.mark.parametrize(
    "family,prefix,variants",
    [
        ("efficientnet", "efficientnet", [f"b{i}" for i in range(8)]),
        ("efficientnet_v2", "efficientnetv2-", ["b0", "b1", "b2", "b3", "-s", "-m", "-l"]),
    ],
)
def test_registry_has_every_efficientnet_file_and_hash(family, prefix, variants):
    """Keras names the file after the model (``efficientnetb0.h5``,
    ``efficientnetv2-s_notop.h5``) and pins an md5 per variant in WEIGHTS_HASHES."""
    from keras.src import applications

    module = getattr(applications, family)
    assert sorted(module.WEIGHTS_HASHES) == sorted(variants)
    for variant in variants:
        key = prefix + variant.lstrip("-")  # Keras' "-s" is the file efficientnetv2-s
        top, notop = weights_lib.get(key), weights_lib.get(f"{key}_notop")
        assert (top.fname, notop.fname) == (f"{key}.h5", f"{key}_notop.h5")
        assert (top.url, notop.url) == (
            module.BASE_WEIGHTS_PATH + top.fname,
            module.BASE_WEIGHTS_PATH + notop.fname,
        )
        assert (top.file_hash, notop.file_hash) == module.WEIGHTS_HASHES[variant]
        assert (top.include_top, notop.include_top) == (True, False)
        model = ("EfficientNetV2" if prefix.endswith("-") else "EfficientNet") + variant.lstrip(
            "-"
        ).upper()
        assert hasattr(keras.applications, model) and (top.model, notop.model) == (model, model)
