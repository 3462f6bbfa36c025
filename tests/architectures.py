"""The architectures the parametrised suites run over.

A new architecture joins the contract and weight-compatibility suites by adding
one entry to ARCHITECTURES.
"""

import dataclasses
import importlib
import os
import types

import h5py
import keras
import numpy as np
import pytest

from keras_applications_bn.weights import registry


@dataclasses.dataclass(frozen=True)
class Arch:
    id: str
    module: str  # keras_applications_bn.<module>
    fn: str  # the function name, the same in keras.applications
    shape: tuple  # a small input shape both implementations accept
    kwargs: dict = dataclasses.field(default_factory=dict)  # e.g. alpha for MobileNet
    has_bn: bool = True
    # The smallest member of each family runs the full inference_bn contract and
    # every include_top/pooling case of the weight-compatibility suite; the other
    # members are checked with the top only (layer table + official-layout load).
    contract: bool = True
    # The largest members (tens of millions of parameters) skip the forward passes
    # of the official-layout check: one test builds each implementation once,
    # compares the layer tables and checks that Keras' weights, saved in the
    # official layout, land in the same layers of ours. Their blocks are the code
    # the smaller members run forward.
    forward: bool = True
    # Tolerance of the official-layout load check, relative to the largest output:
    # the compiled (predict) and eager calls of Keras' own ResNet101/152 already
    # differ by up to 2e-4 (float32 rounding compounding over 100+ layers).
    rtol: float = 1e-4
    # The reference model's builder where it is not keras.applications.<fn>
    # (ResNeXt: keras_applications 1.0.8's own builder).
    reference: object = None
    # (reference class, our class) pairs of layers ours replaces one for one
    # (ResNeXt: 1.0.8's Lambda, our ReduceSum); layer tables compare by ours.
    layer_twins: tuple = ()
    # Phrases the function's docstring must (``doc``) or must not (``doc_absent``)
    # hold beyond those every model function's holds. Its input sizes and
    # preprocessing mode are the registry's (default_size, min_size, preprocessing).
    doc: tuple = ()
    doc_absent: tuple = ()
    # False where Keras' size rules differ (MobileNetV3 takes any size with the
    # top): the "refuses what Keras refuses" checks of input sizes skip it.
    fixed_size: bool = True

    @property
    def spec(self):
        """The function's row in the registry's model table."""
        return registry.model_spec(self.fn)

    @property
    def default_size(self):
        """The input size of the ImageNet weights with the top."""
        return self.spec.default_size

    @property
    def min_size(self):
        """The smallest input side the function takes."""
        return self.spec.min_size

    @property
    def preprocessing(self):
        """The ``preprocess_input`` mode its module's docstring names (None where
        the model preprocesses its input itself)."""
        mode = self.spec.preprocessing
        return None if mode == "in-model" else mode

    def ours(self, **kwargs):
        module = importlib.import_module(f"keras_applications_bn.{self.module}")
        return getattr(module, self.fn)(**{**self.kwargs, **kwargs})

    def keras(self, **kwargs):
        kwargs = {**self.kwargs, **kwargs}
        if self.reference is not None:
            return self.reference(**kwargs)
        if self.fn == "NASNetMobile" and keras.backend.backend() == "torch":
            return keras_nasnet_mobile(**kwargs)
        return getattr(keras.applications, self.fn)(**kwargs)

    def fresh(self, build, **kwargs):
        """A model built in a fresh Keras session, so that automatic layer names
        (InceptionV3) are comparable between ours and Keras'."""
        keras.backend.clear_session()
        return build(**kwargs)

    def layer_table(self, build, **kwargs):
        """:meth:`table` of a model built in a fresh Keras session."""
        return self.table(self.fresh(build, **kwargs))

    def table(self, model):
        """:func:`layer_table`, with each reference class of ``layer_twins``
        renamed to the class of ours that replaces it."""
        twins = dict(self.layer_twins)
        return [(twins.get(cls, cls), name, shapes) for cls, name, shapes in layer_table(model)]

    def __str__(self):
        return self.id


def keras_applications_108_modules():
    """The modules to inject into keras_applications 1.0.8's builders so they run
    on Keras 3: Keras 3's layers, models and utils, and a backend that is
    ``keras.backend`` plus the ``int_shape`` Keras 3 dropped."""
    backend = types.SimpleNamespace(
        **{k: getattr(keras.backend, k) for k in dir(keras.backend) if not k.startswith("__")}
    )
    backend.int_shape = lambda x: tuple(x.shape)
    return dict(backend=backend, layers=keras.layers, models=keras.models, utils=keras.utils)


def keras_applications_108(fn):
    """A builder of keras_applications 1.0.8's ``fn`` (its ``resnet_common``) on
    Keras 3, taking the arguments of ours but ``inference_bn``: 1.0.8 has no
    ``classifier_activation`` (its top is a softmax), so another one is set on
    the built classifier."""

    def build(classifier_activation="softmax", **kwargs):
        from keras_applications import resnet_common

        model = getattr(resnet_common, fn)(**kwargs, **keras_applications_108_modules())
        if kwargs.get("include_top", True) and classifier_activation != "softmax":
            model.get_layer("probs").activation = keras.activations.get(classifier_activation)
        return model

    return build


RESNET_DOC = ("keras_applications_bn.resnet.preprocess_input",)
RESNET_V2_DOC = ("keras_applications_bn.resnet_v2.preprocess_input",)
CONVNEXT_DOC = ("[0, 255]", "include_preprocessing", "no BatchNormalization, so it changes nothing")

ARCHITECTURES = [
    Arch("resnet50", "resnet50", "ResNet50", (32, 32, 3), doc=RESNET_DOC),
    Arch("vgg16", "vgg16", "VGG16", (32, 32, 3), has_bn=False),
    Arch("vgg19", "vgg19", "VGG19", (32, 32, 3), has_bn=False, contract=False),
    Arch("inception_v3", "inception_v3", "InceptionV3", (75, 75, 3)),
    Arch("mobilenet", "mobilenet", "MobileNet", (32, 32, 3), {"alpha": 0.25}),
    Arch(
        "resnet101", "resnet", "ResNet101", (32, 32, 3), contract=False, rtol=1e-3, doc=RESNET_DOC
    ),
    Arch(
        "resnet152", "resnet", "ResNet152", (32, 32, 3), contract=False, rtol=1e-3, doc=RESNET_DOC
    ),
    Arch("resnet50v2", "resnet_v2", "ResNet50V2", (32, 32, 3), doc=RESNET_V2_DOC),
    Arch("resnet101v2", "resnet_v2", "ResNet101V2", (32, 32, 3), contract=False, doc=RESNET_V2_DOC),
    Arch("resnet152v2", "resnet_v2", "ResNet152V2", (32, 32, 3), contract=False, doc=RESNET_V2_DOC),
    Arch("xception", "xception", "Xception", (71, 71, 3)),
    Arch("inception_resnet_v2", "inception_resnet_v2", "InceptionResNetV2", (75, 75, 3)),
    Arch("densenet121", "densenet", "DenseNet121", (32, 32, 3)),
    Arch("densenet169", "densenet", "DenseNet169", (32, 32, 3), contract=False),
    Arch("densenet201", "densenet", "DenseNet201", (32, 32, 3), contract=False),
    Arch("nasnet_mobile", "nasnet", "NASNetMobile", (32, 32, 3)),
    Arch("nasnet_large", "nasnet", "NASNetLarge", (32, 32, 3), contract=False),
    Arch("mobilenet_v2", "mobilenet_v2", "MobileNetV2", (32, 32, 3), {"alpha": 0.35}),
    Arch(
        "mobilenet_v3_small",
        "mobilenet_v3",
        "MobileNetV3Small",
        (32, 32, 3),
        {"alpha": 0.75},
        fixed_size=False,
    ),
    Arch(
        "mobilenet_v3_small_minimalistic",
        "mobilenet_v3",
        "MobileNetV3Small",
        (32, 32, 3),
        {"alpha": 0.75, "minimalistic": True},
        contract=False,
        fixed_size=False,
    ),
    Arch(
        "mobilenet_v3_large",
        "mobilenet_v3",
        "MobileNetV3Large",
        (32, 32, 3),
        {"alpha": 0.75},
        contract=False,
        fixed_size=False,
    ),
    Arch(
        "mobilenet_v3_large_minimalistic",
        "mobilenet_v3",
        "MobileNetV3Large",
        (32, 32, 3),
        {"minimalistic": True},
        contract=False,
        fixed_size=False,
    ),
    # EfficientNet: Keras' own compiled and eager calls differ by up to 3e-4 of the
    # largest logit (float32 rounding amplified by the squeeze-and-excitation gates)
    *(
        Arch(
            f"efficientnetb{i}",
            "efficientnet",
            f"EfficientNetB{i}",
            (32, 32, 3),
            contract=i == 0,
            forward=i < 4,
            rtol=1e-3,
            doc=("[0, 255]",),
            doc_absent=("include_preprocessing",),
        )
        for i in range(8)
    ),
    *(
        Arch(
            f"efficientnetv2-{v.lower()}",
            "efficientnet_v2",
            f"EfficientNetV2{v}",
            (32, 32, 3),
            contract=v == "B0",
            forward=v.startswith("B"),
            rtol=1e-3,
            doc=("[0, 255]", "include_preprocessing"),
        )
        for v in ("B0", "B1", "B2", "B3", "S", "M", "L")
    ),
    # ConvNeXt: LayerNormalization, no BN (inference_bn changes nothing, as for VGG)
    *(
        Arch(
            f"convnext_{v.lower()}",
            "convnext",
            f"ConvNeXt{v}",
            (32, 32, 3),
            has_bn=False,
            contract=v == "Tiny",
            forward=v in ("Tiny", "Small"),
            doc=CONVNEXT_DOC,
        )
        for v in ("Tiny", "Small", "Base", "Large", "XLarge")
    ),
    # ResNeXt: Keras 3 has none; the reference is keras_applications 1.0.8's builder
    Arch(
        "resnext50",
        "resnext",
        "ResNeXt50",
        (32, 32, 3),
        reference=keras_applications_108("ResNeXt50"),
        layer_twins=(("Lambda", "ReduceSum"),),
    ),
    Arch(
        "resnext101",
        "resnext",
        "ResNeXt101",
        (32, 32, 3),
        contract=False,
        rtol=1e-3,
        reference=keras_applications_108("ResNeXt101"),
        layer_twins=(("Lambda", "ReduceSum"),),
    ),
]


def keras_nasnet_mobile(input_shape=None, **kwargs):
    """Keras' NASNetMobile, built by its NASNet builder: on the PyTorch backend the
    public function refuses to build ("an outstanding bug"), while the builder's
    model runs; ours is compared with it there."""
    from keras.src.applications import nasnet

    return nasnet.NASNet(
        input_shape,
        penultimate_filters=1056,
        num_blocks=4,
        stem_block_filters=32,
        skip_reduction=False,
        filter_multiplier=2,
        default_size=224,
        name=kwargs.pop("name", "nasnet_mobile"),
        **kwargs,
    )


WITH_BN = [a for a in ARCHITECTURES if a.has_bn]
CONTRACT = [a for a in WITH_BN if a.contract]
FORWARD = [a for a in ARCHITECTURES if a.forward]
LARGE = [a for a in ARCHITECTURES if not a.forward]
# One entry per model function (the MobileNetV3 variants share theirs), and those
# with a keras.applications twin (ResNeXt's reference is keras_applications 1.0.8)
FUNCTIONS = [a for i, a in enumerate(ARCHITECTURES) if all(b.fn != a.fn for b in ARCHITECTURES[:i])]
KERAS_FUNCTIONS = [a for a in FUNCTIONS if a.reference is None]
# The smallest member of each family
FAMILIES = [a for a in ARCHITECTURES if a.contract]
# The compatibility stage (`make test-compat`: the tests marked compat, on each
# combination of Python, TensorFlow and Keras, within its time budget) runs the pinned
# model contract (test_pinned_model_contract) and the official-layout weight load with
# the top (test_weight_compat.py) on one model of every family (the smallest, FAMILIES),
# and the longer suites (save and reload in a fresh process, Keras' default behaviour,
# folding) on COMPAT_FAMILIES: ResNet50 and MobileNetV3 (depthwise convolutions,
# squeeze-and-excitation, Keras graph operations, the Affine layer).
COMPAT_FAMILIES = ("resnet50", "mobilenet_v3_small")
COMPAT_WEIGHT_FAMILIES = tuple(a.id for a in FAMILIES)
# Set by .ci/compat.sh (the combination's name) while a combination's tests run: there
# the official-layout load compares compiled outputs (``predict``, against Keras') on
# COMPAT_FAMILIES only, its eager outputs on every family; the fast lane compares both
# on every family (a compiled call of each is two traces of the whole graph, a third
# of the subset's time on each combination).
COMPAT_STAGE = os.environ.get("KAB_COMPAT_STAGE", "")


def compat_params(archs, families=COMPAT_FAMILIES):
    """``archs`` as pytest parameters (id: the architecture's), those of
    ``families`` (ids; default COMPAT_FAMILIES) marked compat."""
    return [
        pytest.param(a, id=a.id, marks=(pytest.mark.compat,) if a.id in families else ())
        for a in archs
    ]


def layer_table(model):
    """(class, name, weight shapes) of every layer: what official files load by."""
    return [(type(l).__name__, l.name, [tuple(w.shape) for w in l.weights]) for l in model.layers]


def randomize_bn(model, seed=0):
    """Give every BN layer distinctive gamma/beta and moving statistics, so that
    training and inference modes, and a wrong weight order, change the outputs
    visibly.

    The moving statistics are those of each layer's inputs on sample images (with
    every BN normalising by batch statistics), perturbed: like a trained network's,
    they keep activations near unit scale, so signals and gradients neither vanish
    nor explode through deep stacks (MobileNet's 27 BN + ReLU6 units), yet they
    differ from any batch's statistics.

    Models normalised by LayerNormalization (ConvNeXt) get distinctive gamma/beta
    there, and their LayerScale layers scales of order 1: at its initial 1e-6 a
    LayerScale makes its block's residual branch, and so a misplaced weight of
    that block, invisible in the outputs.
    """
    rng = np.random.default_rng(seed)
    randomize_layer_norms(model, rng)
    layers = [
        layer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    for layer in layers:
        for w in layer.trainable_weights:
            n = w.path.rsplit("/", 1)[-1]
            value = (
                rng.uniform(0.8, 1.2, w.shape) if n == "gamma" else rng.normal(0.0, 0.1, w.shape)
            )
            w.assign(value.astype("float32"))
    if not layers:
        return model

    pinned = [layer for layer in layers if getattr(layer, "inference_mode", False)]
    for layer in pinned:
        layer.inference_mode = False
    try:
        probe = keras.Model(model.input, [layer.input for layer in layers])
        x = images(model.input_shape[1:], n=8, seed=seed + 100)
        bn_inputs = probe(x, training=True)
    finally:
        for layer in pinned:
            layer.inference_mode = True

    for layer, a in zip(layers, bn_inputs):
        a = np.moveaxis(keras.ops.convert_to_numpy(a), layer.axis, -1)
        a = a.reshape(-1, a.shape[-1])
        mean, std = a.mean(axis=0), a.std(axis=0)
        std = np.maximum(std, 0.1 * std.mean()) + 1e-3  # channels that barely vary
        # a mild perturbation: its effect compounds through 50-100 layers
        layer.moving_mean.assign(mean.astype("float32"))
        layer.moving_variance.assign((std**2 * rng.uniform(0.9, 1.1, mean.shape)).astype("float32"))
    return model


def randomize_layer_norms(model, rng):
    """Distinctive LayerNormalization gamma/beta and LayerScale scales (see
    :func:`randomize_bn`); models without such layers are left as they are."""
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.LayerNormalization):
            if layer.gamma is not None:
                layer.gamma.assign(rng.uniform(0.8, 1.2, layer.gamma.shape).astype("float32"))
            if layer.beta is not None:
                layer.beta.assign(rng.normal(0.0, 0.1, layer.beta.shape).astype("float32"))
        elif type(layer).__name__ == "LayerScale":  # Keras' ConvNeXt layer
            layer.gamma.assign(rng.uniform(0.5, 1.0, layer.gamma.shape).astype("float32"))


def save_official_layout(model, path):
    """Save ``model``'s weights as the official ImageNet files are laid out
    (legacy Keras h5 weights format, loaded by layer order)."""
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    return path


def bn_state(model):
    """Copies of every BN layer's moving statistics, in order."""
    out = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization):
            out.append(
                (np.array(layer.moving_mean.numpy()), np.array(layer.moving_variance.numpy()))
            )
    return out


def assert_same_outputs(actual, expected, rtol=1e-4):
    """Equal within ``rtol``, relative to each element and to the outputs' scale:
    float32 rounding differs between eager and compiled calls by about 1e-6 of
    the largest activations, which can be far from an element near zero."""
    actual, expected = keras.ops.convert_to_numpy(actual), keras.ops.convert_to_numpy(expected)
    np.testing.assert_allclose(
        actual, expected, rtol=rtol, atol=rtol * float(np.abs(expected).max())
    )


def images(shape, n=4, seed=0):
    return np.random.default_rng(seed).uniform(0.0, 1.0, (n,) + tuple(shape)).astype("float32")


def layer_configs(build, **kwargs):
    """(class name, config) of every layer of a model built in a fresh Keras
    session, without the keys only this package's BatchNormalization has and
    with a negative axis counted from the front (``blocks.concat`` says -1 where
    Keras' InceptionResNetV2 says 3): equal for ours and Keras' model when every
    hyper-parameter (strides, padding, axis, epsilon, scale, ...) is the same."""
    keras.backend.clear_session()
    return configs_of(build(**kwargs))


def configs_of(model):
    """:func:`layer_configs` of a model already built."""
    out = []
    for layer in model.layers:
        config = layer.get_config()
        for key in ("requires", "inference_mode", "affine_trainable"):  # this package's own keys
            config.pop(key, None)
        if isinstance(config.get("axis"), int) and config["axis"] < 0:
            config["axis"] += 4  # 4D image tensors: -1 and 3 are the same axis
        out.append((type(layer).__name__, config))
    return out
