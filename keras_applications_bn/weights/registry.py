"""The registry: every official file that ``weights="imagenet"`` may load, as data.

`REGISTRY` maps a short name (``"resnet50"``, ``"resnet50_notop"``, ...) to a
`WeightFile`. The table below is the single source of those facts: one row
per file, with the URL path and the hash exactly as Keras (or keras_applications
1.0.8, for ResNeXt) publishes and pins them. Nothing here touches the network or
the disk.

A file is found by its name (`get`), by names, model names or patterns
(`resolve_names`), or by what it is (`lookup`): the model, whether it
holds the classifier, and the model's variant (``alpha`` and ``rows`` for
MobileNet and MobileNetV2, ``alpha`` and ``minimalistic`` for MobileNetV3).

`MODELS` holds, one row per model function, what its input is: the default
(and ImageNet-with-top) input size, the smallest input side and the preprocessing
mode (`model_spec`). The sizes and widths that have official files
(MobileNet's ``rows`` and ``alpha``) are read from the files' variants
(`variant_values`). Model functions, their docstrings and the tests read
these facts here; a test checks the README's model table against them.
"""

import dataclasses
import difflib
import fnmatch

#: Where Keras' official weight files live; a mirror replaces this prefix.
ORIGIN = "https://storage.googleapis.com/"
#: Where keras_applications 1.0.8 published the ResNeXt files (release assets).
GITHUB_ORIGIN = "https://github.com/"
#: Every origin of registry files; a mirror replaces any of them.
ORIGINS = (ORIGIN, GITHUB_ORIGIN)


@dataclasses.dataclass(frozen=True)
class WeightFile:
    """One official file: where it lives, how to check it, what it belongs to.

    Attributes:
        name: registry key, e.g. ``"resnet50_notop"``.
        path: location relative to ``origin`` (and to a mirror).
        file_hash: the md5 or sha256 hex digest Keras pins, or ``None`` where Keras
            pins none (every MobileNet file).
        model: the model function the file belongs to (``None`` for data files).
        include_top: whether the file holds the classifier (``None`` for data).
        size: the file's size in bytes where known (``None`` otherwise); a download
            whose announced size differs is refused before it starts.
        cache_fname: the file's name in the cache where Keras caches it under
            another name than the URL's (NASNet); ``None`` for the URL's.
        origin: one of `ORIGINS`; `ORIGIN` for Keras' files.
        variant: which configuration of ``model`` the file is for, as sorted
            ``(argument, value)`` pairs, e.g. ``(("alpha", 0.5), ("rows", 128))``;
            empty where the model has one file with and one without the top.
    """

    name: str
    path: str
    file_hash: str | None
    model: str | None = None
    include_top: bool | None = None
    size: int | None = None
    cache_fname: str | None = None
    origin: str = ORIGIN
    variant: tuple = ()

    @property
    def fname(self):
        """The file name in the cache (the same as Keras uses, so a Keras cache is reused)."""
        return self.cache_fname or self.path.rsplit("/", 1)[-1]

    @property
    def url(self):
        """The official URL."""
        return self.origin + self.path


_KA = "tensorflow/keras-applications/"
_RELEASES = "keras-team/keras-applications/releases/download/"


def _file(name, model, include_top, variant, path, file_hash, *, cache_fname=None, origin=ORIGIN):
    """One row of the table: a `WeightFile` with its ``variant`` from a dict."""
    return WeightFile(
        name,
        path,
        file_hash,
        model,
        include_top,
        cache_fname=cache_fname,
        origin=origin,
        variant=tuple(sorted((variant or {}).items())),
    )


# One row per file:
#   _file(name, model, include_top, variant,
#         path under the origin, pinned hash (None: trusted on first use), [cache name, origin])
# The paths and hashes are facts copied from Keras' (and keras_applications 1.0.8's)
# source; tests/test_weights.py and tests/test_weight_compat.py check them against it.
# A data table, one row per file: kept as written (the formatter would give each field a line).
# fmt: off
_FILES = (
    # Data files
    _file("imagenet_class_index", None, None, None,
          "download.tensorflow.org/data/imagenet_class_index.json", "c2c37ea517e94d9795004a39431a14cb"),

    # ResNet, ResNetV2 (md5 pinned by Keras)
    _file("resnet50", "ResNet50", True, None,
          _KA + "resnet/resnet50_weights_tf_dim_ordering_tf_kernels.h5", "2cb95161c43110f7111970584f804107"),
    _file("resnet50_notop", "ResNet50", False, None,
          _KA + "resnet/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
          "4d473c1dd8becc155b73f8504c6f6626"),
    _file("resnet101", "ResNet101", True, None,
          _KA + "resnet/resnet101_weights_tf_dim_ordering_tf_kernels.h5", "f1aeb4b969a6efcfb50fad2f0c20cfc5"),
    _file("resnet101_notop", "ResNet101", False, None,
          _KA + "resnet/resnet101_weights_tf_dim_ordering_tf_kernels_notop.h5",
          "88cf7a10940856eca736dc7b7e228a21"),
    _file("resnet152", "ResNet152", True, None,
          _KA + "resnet/resnet152_weights_tf_dim_ordering_tf_kernels.h5", "100835be76be38e30d865e96f2aaae62"),
    _file("resnet152_notop", "ResNet152", False, None,
          _KA + "resnet/resnet152_weights_tf_dim_ordering_tf_kernels_notop.h5",
          "ee4c566cf9a93f14d82f913c2dc6dd0c"),
    _file("resnet50v2", "ResNet50V2", True, None,
          _KA + "resnet/resnet50v2_weights_tf_dim_ordering_tf_kernels.h5",
          "3ef43a0b657b3be2300d5770ece849e0"),
    _file("resnet50v2_notop", "ResNet50V2", False, None,
          _KA + "resnet/resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
          "fac2f116257151a9d068a22e544a4917"),
    _file("resnet101v2", "ResNet101V2", True, None,
          _KA + "resnet/resnet101v2_weights_tf_dim_ordering_tf_kernels.h5",
          "6343647c601c52e1368623803854d971"),
    _file("resnet101v2_notop", "ResNet101V2", False, None,
          _KA + "resnet/resnet101v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
          "c0ed64b8031c3730f411d2eb4eea35b5"),
    _file("resnet152v2", "ResNet152V2", True, None,
          _KA + "resnet/resnet152v2_weights_tf_dim_ordering_tf_kernels.h5",
          "a49b44d1979771252814e80f8ec446f9"),
    _file("resnet152v2_notop", "ResNet152V2", False, None,
          _KA + "resnet/resnet152v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
          "ed17cf2e0169df9d443503ef94b23b33"),

    # VGG16
    _file("vgg16", "VGG16", True, None,
          _KA + "vgg16/vgg16_weights_tf_dim_ordering_tf_kernels.h5", "64373286793e3c8b2b4e3219cbf3544b"),
    _file("vgg16_notop", "VGG16", False, None,
          _KA + "vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
          "6d6bbae143d832006294945121d1f1fc"),

    # VGG19
    _file("vgg19", "VGG19", True, None,
          _KA + "vgg19/vgg19_weights_tf_dim_ordering_tf_kernels.h5", "cbe5617147190e668d6c5d5026f83318"),
    _file("vgg19_notop", "VGG19", False, None,
          _KA + "vgg19/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
          "253f8cb515780f3b799900260a226db6"),

    # InceptionV3
    _file("inception_v3", "InceptionV3", True, None,
          _KA + "inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
          "9a0d58056eeedaa3f26cb7ebd46da564"),
    _file("inception_v3_notop", "InceptionV3", False, None,
          _KA + "inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
          "bcbd6486424b2319ff4ef7d526e38f63"),

    # InceptionResNetV2
    _file("inception_resnet_v2", "InceptionResNetV2", True, None,
          _KA + "inception_resnet_v2/inception_resnet_v2_weights_tf_dim_ordering_tf_kernels.h5",
          "e693bd0210a403b3192acc6073ad2e96"),
    _file("inception_resnet_v2_notop", "InceptionResNetV2", False, None,
          _KA + "inception_resnet_v2/inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
          "d19885ff4a710c122648d3b5c3b684e4"),

    # Xception
    _file("xception", "Xception", True, None,
          _KA + "xception/xception_weights_tf_dim_ordering_tf_kernels.h5",
          "0a58e3b7378bc2990ea3b43d5981f1f6"),
    _file("xception_notop", "Xception", False, None,
          _KA + "xception/xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
          "b0042744bf5b25fce3cb969f33bebb97"),

    # DenseNet
    _file("densenet121", "DenseNet121", True, None,
          _KA + "densenet/densenet121_weights_tf_dim_ordering_tf_kernels.h5",
          "9d60b8095a5708f2dcce2bca79d332c7"),
    _file("densenet121_notop", "DenseNet121", False, None,
          _KA + "densenet/densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5",
          "30ee3e1110167f948a6b9946edeeb738"),
    _file("densenet169", "DenseNet169", True, None,
          _KA + "densenet/densenet169_weights_tf_dim_ordering_tf_kernels.h5",
          "d699b8f76981ab1b30698df4c175e90b"),
    _file("densenet169_notop", "DenseNet169", False, None,
          _KA + "densenet/densenet169_weights_tf_dim_ordering_tf_kernels_notop.h5",
          "b8c4d4c20dd625c148057b9ff1c1176b"),
    _file("densenet201", "DenseNet201", True, None,
          _KA + "densenet/densenet201_weights_tf_dim_ordering_tf_kernels.h5",
          "1ceb130c1ea1b78c3bf6114dbdfd8807"),
    _file("densenet201_notop", "DenseNet201", False, None,
          _KA + "densenet/densenet201_weights_tf_dim_ordering_tf_kernels_notop.h5",
          "c13680b51ded0fb44dff2d8f86ac8bb1"),

    # MobileNet (v1): variant alpha and input rows; Keras pins no hash for any MobileNet file
    _file("mobilenet_1_0_128", "MobileNet", True, {"alpha": 1.0, "rows": 128},
          _KA + "mobilenet/mobilenet_1_0_128_tf.h5", None),
    _file("mobilenet_1_0_128_notop", "MobileNet", False, {"alpha": 1.0, "rows": 128},
          _KA + "mobilenet/mobilenet_1_0_128_tf_no_top.h5", None),
    _file("mobilenet_1_0_160", "MobileNet", True, {"alpha": 1.0, "rows": 160},
          _KA + "mobilenet/mobilenet_1_0_160_tf.h5", None),
    _file("mobilenet_1_0_160_notop", "MobileNet", False, {"alpha": 1.0, "rows": 160},
          _KA + "mobilenet/mobilenet_1_0_160_tf_no_top.h5", None),
    _file("mobilenet_1_0_192", "MobileNet", True, {"alpha": 1.0, "rows": 192},
          _KA + "mobilenet/mobilenet_1_0_192_tf.h5", None),
    _file("mobilenet_1_0_192_notop", "MobileNet", False, {"alpha": 1.0, "rows": 192},
          _KA + "mobilenet/mobilenet_1_0_192_tf_no_top.h5", None),
    _file("mobilenet_1_0_224", "MobileNet", True, {"alpha": 1.0, "rows": 224},
          _KA + "mobilenet/mobilenet_1_0_224_tf.h5", None),
    _file("mobilenet_1_0_224_notop", "MobileNet", False, {"alpha": 1.0, "rows": 224},
          _KA + "mobilenet/mobilenet_1_0_224_tf_no_top.h5", None),
    _file("mobilenet_7_5_128", "MobileNet", True, {"alpha": 0.75, "rows": 128},
          _KA + "mobilenet/mobilenet_7_5_128_tf.h5", None),
    _file("mobilenet_7_5_128_notop", "MobileNet", False, {"alpha": 0.75, "rows": 128},
          _KA + "mobilenet/mobilenet_7_5_128_tf_no_top.h5", None),
    _file("mobilenet_7_5_160", "MobileNet", True, {"alpha": 0.75, "rows": 160},
          _KA + "mobilenet/mobilenet_7_5_160_tf.h5", None),
    _file("mobilenet_7_5_160_notop", "MobileNet", False, {"alpha": 0.75, "rows": 160},
          _KA + "mobilenet/mobilenet_7_5_160_tf_no_top.h5", None),
    _file("mobilenet_7_5_192", "MobileNet", True, {"alpha": 0.75, "rows": 192},
          _KA + "mobilenet/mobilenet_7_5_192_tf.h5", None),
    _file("mobilenet_7_5_192_notop", "MobileNet", False, {"alpha": 0.75, "rows": 192},
          _KA + "mobilenet/mobilenet_7_5_192_tf_no_top.h5", None),
    _file("mobilenet_7_5_224", "MobileNet", True, {"alpha": 0.75, "rows": 224},
          _KA + "mobilenet/mobilenet_7_5_224_tf.h5", None),
    _file("mobilenet_7_5_224_notop", "MobileNet", False, {"alpha": 0.75, "rows": 224},
          _KA + "mobilenet/mobilenet_7_5_224_tf_no_top.h5", None),
    _file("mobilenet_5_0_128", "MobileNet", True, {"alpha": 0.5, "rows": 128},
          _KA + "mobilenet/mobilenet_5_0_128_tf.h5", None),
    _file("mobilenet_5_0_128_notop", "MobileNet", False, {"alpha": 0.5, "rows": 128},
          _KA + "mobilenet/mobilenet_5_0_128_tf_no_top.h5", None),
    _file("mobilenet_5_0_160", "MobileNet", True, {"alpha": 0.5, "rows": 160},
          _KA + "mobilenet/mobilenet_5_0_160_tf.h5", None),
    _file("mobilenet_5_0_160_notop", "MobileNet", False, {"alpha": 0.5, "rows": 160},
          _KA + "mobilenet/mobilenet_5_0_160_tf_no_top.h5", None),
    _file("mobilenet_5_0_192", "MobileNet", True, {"alpha": 0.5, "rows": 192},
          _KA + "mobilenet/mobilenet_5_0_192_tf.h5", None),
    _file("mobilenet_5_0_192_notop", "MobileNet", False, {"alpha": 0.5, "rows": 192},
          _KA + "mobilenet/mobilenet_5_0_192_tf_no_top.h5", None),
    _file("mobilenet_5_0_224", "MobileNet", True, {"alpha": 0.5, "rows": 224},
          _KA + "mobilenet/mobilenet_5_0_224_tf.h5", None),
    _file("mobilenet_5_0_224_notop", "MobileNet", False, {"alpha": 0.5, "rows": 224},
          _KA + "mobilenet/mobilenet_5_0_224_tf_no_top.h5", None),
    _file("mobilenet_2_5_128", "MobileNet", True, {"alpha": 0.25, "rows": 128},
          _KA + "mobilenet/mobilenet_2_5_128_tf.h5", None),
    _file("mobilenet_2_5_128_notop", "MobileNet", False, {"alpha": 0.25, "rows": 128},
          _KA + "mobilenet/mobilenet_2_5_128_tf_no_top.h5", None),
    _file("mobilenet_2_5_160", "MobileNet", True, {"alpha": 0.25, "rows": 160},
          _KA + "mobilenet/mobilenet_2_5_160_tf.h5", None),
    _file("mobilenet_2_5_160_notop", "MobileNet", False, {"alpha": 0.25, "rows": 160},
          _KA + "mobilenet/mobilenet_2_5_160_tf_no_top.h5", None),
    _file("mobilenet_2_5_192", "MobileNet", True, {"alpha": 0.25, "rows": 192},
          _KA + "mobilenet/mobilenet_2_5_192_tf.h5", None),
    _file("mobilenet_2_5_192_notop", "MobileNet", False, {"alpha": 0.25, "rows": 192},
          _KA + "mobilenet/mobilenet_2_5_192_tf_no_top.h5", None),
    _file("mobilenet_2_5_224", "MobileNet", True, {"alpha": 0.25, "rows": 224},
          _KA + "mobilenet/mobilenet_2_5_224_tf.h5", None),
    _file("mobilenet_2_5_224_notop", "MobileNet", False, {"alpha": 0.25, "rows": 224},
          _KA + "mobilenet/mobilenet_2_5_224_tf_no_top.h5", None),

    # MobileNetV2: variant alpha and input rows; no hash pinned either
    _file("mobilenet_v2_0.35_96", "MobileNetV2", True, {"alpha": 0.35, "rows": 96},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96.h5", None),
    _file("mobilenet_v2_0.35_96_notop", "MobileNetV2", False, {"alpha": 0.35, "rows": 96},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5", None),
    _file("mobilenet_v2_0.35_128", "MobileNetV2", True, {"alpha": 0.35, "rows": 128},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_128.h5", None),
    _file("mobilenet_v2_0.35_128_notop", "MobileNetV2", False, {"alpha": 0.35, "rows": 128},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_128_no_top.h5", None),
    _file("mobilenet_v2_0.35_160", "MobileNetV2", True, {"alpha": 0.35, "rows": 160},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_160.h5", None),
    _file("mobilenet_v2_0.35_160_notop", "MobileNetV2", False, {"alpha": 0.35, "rows": 160},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_160_no_top.h5", None),
    _file("mobilenet_v2_0.35_192", "MobileNetV2", True, {"alpha": 0.35, "rows": 192},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_192.h5", None),
    _file("mobilenet_v2_0.35_192_notop", "MobileNetV2", False, {"alpha": 0.35, "rows": 192},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_192_no_top.h5", None),
    _file("mobilenet_v2_0.35_224", "MobileNetV2", True, {"alpha": 0.35, "rows": 224},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224.h5", None),
    _file("mobilenet_v2_0.35_224_notop", "MobileNetV2", False, {"alpha": 0.35, "rows": 224},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5", None),
    _file("mobilenet_v2_0.5_96", "MobileNetV2", True, {"alpha": 0.5, "rows": 96},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.5_96.h5", None),
    _file("mobilenet_v2_0.5_96_notop", "MobileNetV2", False, {"alpha": 0.5, "rows": 96},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.5_96_no_top.h5", None),
    _file("mobilenet_v2_0.5_128", "MobileNetV2", True, {"alpha": 0.5, "rows": 128},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.5_128.h5", None),
    _file("mobilenet_v2_0.5_128_notop", "MobileNetV2", False, {"alpha": 0.5, "rows": 128},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.5_128_no_top.h5", None),
    _file("mobilenet_v2_0.5_160", "MobileNetV2", True, {"alpha": 0.5, "rows": 160},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.5_160.h5", None),
    _file("mobilenet_v2_0.5_160_notop", "MobileNetV2", False, {"alpha": 0.5, "rows": 160},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.5_160_no_top.h5", None),
    _file("mobilenet_v2_0.5_192", "MobileNetV2", True, {"alpha": 0.5, "rows": 192},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.5_192.h5", None),
    _file("mobilenet_v2_0.5_192_notop", "MobileNetV2", False, {"alpha": 0.5, "rows": 192},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.5_192_no_top.h5", None),
    _file("mobilenet_v2_0.5_224", "MobileNetV2", True, {"alpha": 0.5, "rows": 224},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.5_224.h5", None),
    _file("mobilenet_v2_0.5_224_notop", "MobileNetV2", False, {"alpha": 0.5, "rows": 224},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.5_224_no_top.h5", None),
    _file("mobilenet_v2_0.75_96", "MobileNetV2", True, {"alpha": 0.75, "rows": 96},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.75_96.h5", None),
    _file("mobilenet_v2_0.75_96_notop", "MobileNetV2", False, {"alpha": 0.75, "rows": 96},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.75_96_no_top.h5", None),
    _file("mobilenet_v2_0.75_128", "MobileNetV2", True, {"alpha": 0.75, "rows": 128},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.75_128.h5", None),
    _file("mobilenet_v2_0.75_128_notop", "MobileNetV2", False, {"alpha": 0.75, "rows": 128},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.75_128_no_top.h5", None),
    _file("mobilenet_v2_0.75_160", "MobileNetV2", True, {"alpha": 0.75, "rows": 160},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.75_160.h5", None),
    _file("mobilenet_v2_0.75_160_notop", "MobileNetV2", False, {"alpha": 0.75, "rows": 160},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.75_160_no_top.h5", None),
    _file("mobilenet_v2_0.75_192", "MobileNetV2", True, {"alpha": 0.75, "rows": 192},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.75_192.h5", None),
    _file("mobilenet_v2_0.75_192_notop", "MobileNetV2", False, {"alpha": 0.75, "rows": 192},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.75_192_no_top.h5", None),
    _file("mobilenet_v2_0.75_224", "MobileNetV2", True, {"alpha": 0.75, "rows": 224},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.75_224.h5", None),
    _file("mobilenet_v2_0.75_224_notop", "MobileNetV2", False, {"alpha": 0.75, "rows": 224},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.75_224_no_top.h5", None),
    _file("mobilenet_v2_1.0_96", "MobileNetV2", True, {"alpha": 1.0, "rows": 96},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_96.h5", None),
    _file("mobilenet_v2_1.0_96_notop", "MobileNetV2", False, {"alpha": 1.0, "rows": 96},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_96_no_top.h5", None),
    _file("mobilenet_v2_1.0_128", "MobileNetV2", True, {"alpha": 1.0, "rows": 128},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_128.h5", None),
    _file("mobilenet_v2_1.0_128_notop", "MobileNetV2", False, {"alpha": 1.0, "rows": 128},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_128_no_top.h5", None),
    _file("mobilenet_v2_1.0_160", "MobileNetV2", True, {"alpha": 1.0, "rows": 160},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_160.h5", None),
    _file("mobilenet_v2_1.0_160_notop", "MobileNetV2", False, {"alpha": 1.0, "rows": 160},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_160_no_top.h5", None),
    _file("mobilenet_v2_1.0_192", "MobileNetV2", True, {"alpha": 1.0, "rows": 192},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_192.h5", None),
    _file("mobilenet_v2_1.0_192_notop", "MobileNetV2", False, {"alpha": 1.0, "rows": 192},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_192_no_top.h5", None),
    _file("mobilenet_v2_1.0_224", "MobileNetV2", True, {"alpha": 1.0, "rows": 224},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5", None),
    _file("mobilenet_v2_1.0_224_notop", "MobileNetV2", False, {"alpha": 1.0, "rows": 224},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5", None),
    _file("mobilenet_v2_1.3_96", "MobileNetV2", True, {"alpha": 1.3, "rows": 96},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.3_96.h5", None),
    _file("mobilenet_v2_1.3_96_notop", "MobileNetV2", False, {"alpha": 1.3, "rows": 96},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.3_96_no_top.h5", None),
    _file("mobilenet_v2_1.3_128", "MobileNetV2", True, {"alpha": 1.3, "rows": 128},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.3_128.h5", None),
    _file("mobilenet_v2_1.3_128_notop", "MobileNetV2", False, {"alpha": 1.3, "rows": 128},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.3_128_no_top.h5", None),
    _file("mobilenet_v2_1.3_160", "MobileNetV2", True, {"alpha": 1.3, "rows": 160},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.3_160.h5", None),
    _file("mobilenet_v2_1.3_160_notop", "MobileNetV2", False, {"alpha": 1.3, "rows": 160},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.3_160_no_top.h5", None),
    _file("mobilenet_v2_1.3_192", "MobileNetV2", True, {"alpha": 1.3, "rows": 192},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.3_192.h5", None),
    _file("mobilenet_v2_1.3_192_notop", "MobileNetV2", False, {"alpha": 1.3, "rows": 192},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.3_192_no_top.h5", None),
    _file("mobilenet_v2_1.3_224", "MobileNetV2", True, {"alpha": 1.3, "rows": 224},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.3_224.h5", None),
    _file("mobilenet_v2_1.3_224_notop", "MobileNetV2", False, {"alpha": 1.3, "rows": 224},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.3_224_no_top.h5", None),
    _file("mobilenet_v2_1.4_96", "MobileNetV2", True, {"alpha": 1.4, "rows": 96},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.4_96.h5", None),
    _file("mobilenet_v2_1.4_96_notop", "MobileNetV2", False, {"alpha": 1.4, "rows": 96},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.4_96_no_top.h5", None),
    _file("mobilenet_v2_1.4_128", "MobileNetV2", True, {"alpha": 1.4, "rows": 128},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.4_128.h5", None),
    _file("mobilenet_v2_1.4_128_notop", "MobileNetV2", False, {"alpha": 1.4, "rows": 128},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.4_128_no_top.h5", None),
    _file("mobilenet_v2_1.4_160", "MobileNetV2", True, {"alpha": 1.4, "rows": 160},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.4_160.h5", None),
    _file("mobilenet_v2_1.4_160_notop", "MobileNetV2", False, {"alpha": 1.4, "rows": 160},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.4_160_no_top.h5", None),
    _file("mobilenet_v2_1.4_192", "MobileNetV2", True, {"alpha": 1.4, "rows": 192},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.4_192.h5", None),
    _file("mobilenet_v2_1.4_192_notop", "MobileNetV2", False, {"alpha": 1.4, "rows": 192},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.4_192_no_top.h5", None),
    _file("mobilenet_v2_1.4_224", "MobileNetV2", True, {"alpha": 1.4, "rows": 224},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.4_224.h5", None),
    _file("mobilenet_v2_1.4_224_notop", "MobileNetV2", False, {"alpha": 1.4, "rows": 224},
          _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.4_224_no_top.h5", None),

    # MobileNetV3: variant alpha and minimalistic (input 224)
    _file("mobilenet_v3_large_224_0.75_float", "MobileNetV3Large", True,
          {"alpha": 0.75, "minimalistic": False},
          _KA + "mobilenet_v3/weights_mobilenet_v3_large_224_0.75_float.h5",
          "765b44a33ad4005b3ac83185abf1d0eb"),
    _file("mobilenet_v3_large_224_0.75_float_notop", "MobileNetV3Large", False,
          {"alpha": 0.75, "minimalistic": False},
          _KA + "mobilenet_v3/weights_mobilenet_v3_large_224_0.75_float_no_top_v2.h5",
          "40af19a13ebea4e2ee0c676887f69a2e"),
    _file("mobilenet_v3_large_224_1.0_float", "MobileNetV3Large", True,
          {"alpha": 1.0, "minimalistic": False},
          _KA + "mobilenet_v3/weights_mobilenet_v3_large_224_1.0_float.h5",
          "59e551e166be033d707958cf9e29a6a7"),
    _file("mobilenet_v3_large_224_1.0_float_notop", "MobileNetV3Large", False,
          {"alpha": 1.0, "minimalistic": False},
          _KA + "mobilenet_v3/weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5",
          "07fb09a5933dd0c8eaafa16978110389"),
    _file("mobilenet_v3_large_minimalistic_224_1.0_float", "MobileNetV3Large", True,
          {"alpha": 1.0, "minimalistic": True},
          _KA + "mobilenet_v3/weights_mobilenet_v3_large_minimalistic_224_1.0_float.h5",
          "675e7b876c45c57e9e63e6d90a36599c"),
    _file("mobilenet_v3_large_minimalistic_224_1.0_float_notop", "MobileNetV3Large", False,
          {"alpha": 1.0, "minimalistic": True},
          _KA + "mobilenet_v3/weights_mobilenet_v3_large_minimalistic_224_1.0_float_no_top_v2.h5",
          "ec5221f64a2f6d1ef965a614bdae7973"),
    _file("mobilenet_v3_small_224_0.75_float", "MobileNetV3Small", True,
          {"alpha": 0.75, "minimalistic": False},
          _KA + "mobilenet_v3/weights_mobilenet_v3_small_224_0.75_float.h5",
          "cb65d4e5be93758266aa0a7f2c6708b7"),
    _file("mobilenet_v3_small_224_0.75_float_notop", "MobileNetV3Small", False,
          {"alpha": 0.75, "minimalistic": False},
          _KA + "mobilenet_v3/weights_mobilenet_v3_small_224_0.75_float_no_top_v2.h5",
          "ebdb5cc8e0b497cd13a7c275d475c819"),
    _file("mobilenet_v3_small_224_1.0_float", "MobileNetV3Small", True,
          {"alpha": 1.0, "minimalistic": False},
          _KA + "mobilenet_v3/weights_mobilenet_v3_small_224_1.0_float.h5",
          "8768d4c2e7dee89b9d02b2d03d65d862"),
    _file("mobilenet_v3_small_224_1.0_float_notop", "MobileNetV3Small", False,
          {"alpha": 1.0, "minimalistic": False},
          _KA + "mobilenet_v3/weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
          "d3e8ec802a04aa4fc771ee12a9a9b836"),
    _file("mobilenet_v3_small_minimalistic_224_1.0_float", "MobileNetV3Small", True,
          {"alpha": 1.0, "minimalistic": True},
          _KA + "mobilenet_v3/weights_mobilenet_v3_small_minimalistic_224_1.0_float.h5",
          "99cd97fb2fcdad2bf028eb838de69e37"),
    _file("mobilenet_v3_small_minimalistic_224_1.0_float_notop", "MobileNetV3Small", False,
          {"alpha": 1.0, "minimalistic": True},
          _KA + "mobilenet_v3/weights_mobilenet_v3_small_minimalistic_224_1.0_float_no_top_v2.h5",
          "cde8136e733e811080d9fcd8a252f7e4"),

    # NASNet: Keras caches these under other names than the URLs'; so do we, to share its cache
    _file("nasnet_mobile", "NASNetMobile", True, None,
          _KA + "nasnet/NASNet-mobile.h5",
          "020fb642bf7360b370c678b08e0adf61", cache_fname="nasnet_mobile.h5"),
    _file("nasnet_mobile_notop", "NASNetMobile", False, None,
          _KA + "nasnet/NASNet-mobile-no-top.h5",
          "1ed92395b5b598bdda52abe5c0dbfd63", cache_fname="nasnet_mobile_no_top.h5"),
    _file("nasnet_large", "NASNetLarge", True, None,
          _KA + "nasnet/NASNet-large.h5", "11577c9a518f0070763c2b964a382f17", cache_fname="nasnet_large.h5"),
    _file("nasnet_large_notop", "NASNetLarge", False, None,
          _KA + "nasnet/NASNet-large-no-top.h5",
          "d81d89dc07e6e56530c4e77faddd61b5", cache_fname="nasnet_large_no_top.h5"),

    # EfficientNet (B0-B7; these live outside tensorflow/)
    _file("efficientnetb0", "EfficientNetB0", True, None,
          "keras-applications/efficientnetb0.h5", "902e53a9f72be733fc0bcb005b3ebbac"),
    _file("efficientnetb0_notop", "EfficientNetB0", False, None,
          "keras-applications/efficientnetb0_notop.h5", "50bc09e76180e00e4465e1a485ddc09d"),
    _file("efficientnetb1", "EfficientNetB1", True, None,
          "keras-applications/efficientnetb1.h5", "1d254153d4ab51201f1646940f018540"),
    _file("efficientnetb1_notop", "EfficientNetB1", False, None,
          "keras-applications/efficientnetb1_notop.h5", "74c4e6b3e1f6a1eea24c589628592432"),
    _file("efficientnetb2", "EfficientNetB2", True, None,
          "keras-applications/efficientnetb2.h5", "b15cce36ff4dcbd00b6dd88e7857a6ad"),
    _file("efficientnetb2_notop", "EfficientNetB2", False, None,
          "keras-applications/efficientnetb2_notop.h5", "111f8e2ac8aa800a7a99e3239f7bfb39"),
    _file("efficientnetb3", "EfficientNetB3", True, None,
          "keras-applications/efficientnetb3.h5", "ffd1fdc53d0ce67064dc6a9c7960ede0"),
    _file("efficientnetb3_notop", "EfficientNetB3", False, None,
          "keras-applications/efficientnetb3_notop.h5", "af6d107764bb5b1abb91932881670226"),
    _file("efficientnetb4", "EfficientNetB4", True, None,
          "keras-applications/efficientnetb4.h5", "18c95ad55216b8f92d7e70b3a046e2fc"),
    _file("efficientnetb4_notop", "EfficientNetB4", False, None,
          "keras-applications/efficientnetb4_notop.h5", "ebc24e6d6c33eaebbd558eafbeedf1ba"),
    _file("efficientnetb5", "EfficientNetB5", True, None,
          "keras-applications/efficientnetb5.h5", "ace28f2a6363774853a83a0b21b9421a"),
    _file("efficientnetb5_notop", "EfficientNetB5", False, None,
          "keras-applications/efficientnetb5_notop.h5", "38879255a25d3c92d5e44e04ae6cec6f"),
    _file("efficientnetb6", "EfficientNetB6", True, None,
          "keras-applications/efficientnetb6.h5", "165f6e37dce68623721b423839de8be5"),
    _file("efficientnetb6_notop", "EfficientNetB6", False, None,
          "keras-applications/efficientnetb6_notop.h5", "9ecce42647a20130c1f39a5d4cb75743"),
    _file("efficientnetb7", "EfficientNetB7", True, None,
          "keras-applications/efficientnetb7.h5", "8c03f828fec3ef71311cd463b6759d99"),
    _file("efficientnetb7_notop", "EfficientNetB7", False, None,
          "keras-applications/efficientnetb7_notop.h5", "cbcfe4450ddf6f3ad90b1b398090fe4a"),

    # EfficientNetV2
    _file("efficientnetv2-b0", "EfficientNetV2B0", True, None,
          _KA + "efficientnet_v2/efficientnetv2-b0.h5", "21ecbf6da12460d5c40bb2f29ceb2188"),
    _file("efficientnetv2-b0_notop", "EfficientNetV2B0", False, None,
          _KA + "efficientnet_v2/efficientnetv2-b0_notop.h5", "893217f2bb855e2983157299931e43ff"),
    _file("efficientnetv2-b1", "EfficientNetV2B1", True, None,
          _KA + "efficientnet_v2/efficientnetv2-b1.h5", "069f0534ff22adf035c89e2d9547a9dc"),
    _file("efficientnetv2-b1_notop", "EfficientNetV2B1", False, None,
          _KA + "efficientnet_v2/efficientnetv2-b1_notop.h5", "0e80663031ca32d657f9caa404b6ec37"),
    _file("efficientnetv2-b2", "EfficientNetV2B2", True, None,
          _KA + "efficientnet_v2/efficientnetv2-b2.h5", "424e49f28180edbde1e94797771950a7"),
    _file("efficientnetv2-b2_notop", "EfficientNetV2B2", False, None,
          _KA + "efficientnet_v2/efficientnetv2-b2_notop.h5", "1dfe2e7a5d45b6632553a8961ea609eb"),
    _file("efficientnetv2-b3", "EfficientNetV2B3", True, None,
          _KA + "efficientnet_v2/efficientnetv2-b3.h5", "1f1fc43bd98a6e4fd8fdfd551e02c7a0"),
    _file("efficientnetv2-b3_notop", "EfficientNetV2B3", False, None,
          _KA + "efficientnet_v2/efficientnetv2-b3_notop.h5", "f6abf7b5849ac99a89b50dd3fd532856"),
    _file("efficientnetv2-s", "EfficientNetV2S", True, None,
          _KA + "efficientnet_v2/efficientnetv2-s.h5", "e1d88a8495beba45748fedd0cecbe016"),
    _file("efficientnetv2-s_notop", "EfficientNetV2S", False, None,
          _KA + "efficientnet_v2/efficientnetv2-s_notop.h5", "af0682fb74e8c54910f2d4393339c070"),
    _file("efficientnetv2-m", "EfficientNetV2M", True, None,
          _KA + "efficientnet_v2/efficientnetv2-m.h5", "a3bf6aa3276309f4fc6a34aa114c95cd"),
    _file("efficientnetv2-m_notop", "EfficientNetV2M", False, None,
          _KA + "efficientnet_v2/efficientnetv2-m_notop.h5", "1b8dc055df72dde80d614482840fe342"),
    _file("efficientnetv2-l", "EfficientNetV2L", True, None,
          _KA + "efficientnet_v2/efficientnetv2-l.h5", "27e6d408b53c7ebc868fefa357689935"),
    _file("efficientnetv2-l_notop", "EfficientNetV2L", False, None,
          _KA + "efficientnet_v2/efficientnetv2-l_notop.h5", "b0b66b5c863aef5b46e8608fe1711615"),

    # ConvNeXt (Keras pins sha256 digests)
    _file("convnext_tiny", "ConvNeXtTiny", True, None,
          _KA + "convnext/convnext_tiny.h5",
          "8ae6e78ce2933352b1ef4008e6dd2f17bc40771563877d156bc6426c7cf503ff"),
    _file("convnext_tiny_notop", "ConvNeXtTiny", False, None,
          _KA + "convnext/convnext_tiny_notop.h5",
          "d547c096cabd03329d7be5562c5e14798aa39ed24b474157cef5e85ab9e49ef1"),
    _file("convnext_small", "ConvNeXtSmall", True, None,
          _KA + "convnext/convnext_small.h5",
          "ce1277d8f1ee5a0ef0e171469089c18f5233860ceaf9b168049cb9263fd7483c"),
    _file("convnext_small_notop", "ConvNeXtSmall", False, None,
          _KA + "convnext/convnext_small_notop.h5",
          "6fc8009faa2f00c1c1dfce59feea9b0745eb260a7dd11bee65c8e20843da6eab"),
    _file("convnext_base", "ConvNeXtBase", True, None,
          _KA + "convnext/convnext_base.h5",
          "52cbb006d3dadd03f6e095a8ca1aca47aecdd75acb4bc74bce1f5c695d0086e6"),
    _file("convnext_base_notop", "ConvNeXtBase", False, None,
          _KA + "convnext/convnext_base_notop.h5",
          "40a20c5548a5e9202f69735ecc06c990e6b7c9d2de39f0361e27baeb24cb7c45"),
    _file("convnext_large", "ConvNeXtLarge", True, None,
          _KA + "convnext/convnext_large.h5",
          "070c5ed9ed289581e477741d3b34beffa920db8cf590899d6d2c67fba2a198a6"),
    _file("convnext_large_notop", "ConvNeXtLarge", False, None,
          _KA + "convnext/convnext_large_notop.h5",
          "96f02b6f0753d4f543261bc9d09bed650f24dd6bc02ddde3066135b63d23a1cd"),
    _file("convnext_xlarge", "ConvNeXtXLarge", True, None,
          _KA + "convnext/convnext_xlarge.h5",
          "c1f5ccab661354fc3a79a10fa99af82f0fbf10ec65cb894a3ae0815f17a889ee"),
    _file("convnext_xlarge_notop", "ConvNeXtXLarge", False, None,
          _KA + "convnext/convnext_xlarge_notop.h5",
          "de3f8a54174130e0cecdc71583354753d557fcf1f4487331558e2a16ba0cfe05"),

    # ResNeXt: keras_applications 1.0.8's release assets on GitHub (its md5 pins)
    _file("resnext50", "ResNeXt50", True, None,
          _RELEASES + "resnet/resnext50_weights_tf_dim_ordering_tf_kernels.h5",
          "67a5b30d522ed92f75a1f16eef299d1a", origin=GITHUB_ORIGIN),
    _file("resnext50_notop", "ResNeXt50", False, None,
          _RELEASES + "resnet/resnext50_weights_tf_dim_ordering_tf_kernels_notop.h5",
          "62527c363bdd9ec598bed41947b379fc", origin=GITHUB_ORIGIN),
    _file("resnext101", "ResNeXt101", True, None,
          _RELEASES + "resnet/resnext101_weights_tf_dim_ordering_tf_kernels.h5",
          "34fb605428fcc7aa4d62f44404c11509", origin=GITHUB_ORIGIN),
    _file("resnext101_notop", "ResNeXt101", False, None,
          _RELEASES + "resnet/resnext101_weights_tf_dim_ordering_tf_kernels_notop.h5",
          "0f678c91647380debd923963594981b3", origin=GITHUB_ORIGIN),

)
# fmt: on

#: Every official file this package knows, by name.
REGISTRY = {f.name: f for f in _FILES}

#: The preprocessing modes of `ModelSpec`: those of
#: ``imagenet_utils.preprocess_input``, and ``"in-model"`` for models that
#: rescale (and normalise) their [0, 255] input themselves, whose module's
#: ``preprocess_input`` returns its input unchanged.
PREPROCESSING_MODES = ("caffe", "tf", "torch", "in-model")


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What a model function takes as input, and how its input is preprocessed.

    Attributes:
        model: the model function's name, e.g. ``"EfficientNetB7"``.
        module: the module that defines it (``keras_applications_bn.<module>``).
        default_size: the side of its default square input, the one its ImageNet
            weights with the top are for (MobileNet and MobileNetV2 also have
            files for smaller squares: the ``rows`` of their files'
            `variant_values`).
        min_size: the smallest input side it accepts.
        preprocessing: the mode of its module's ``preprocess_input``, one of
            `PREPROCESSING_MODES`.
    """

    model: str
    module: str
    default_size: int
    min_size: int
    preprocessing: str


# One row per model function: (model, module, default size, minimum size,
# preprocessing mode), as keras.applications (keras_applications 1.0.8 for
# ResNeXt) has them; tests/test_weights.py checks them against Keras.
# fmt: off
_MODELS = tuple(ModelSpec(*row) for row in (
    ("ResNet50", "resnet", 224, 32, "caffe"),
    ("ResNet101", "resnet", 224, 32, "caffe"),
    ("ResNet152", "resnet", 224, 32, "caffe"),
    ("ResNet50V2", "resnet_v2", 224, 32, "tf"),
    ("ResNet101V2", "resnet_v2", 224, 32, "tf"),
    ("ResNet152V2", "resnet_v2", 224, 32, "tf"),
    ("VGG16", "vgg16", 224, 32, "caffe"),
    ("VGG19", "vgg19", 224, 32, "caffe"),
    ("InceptionV3", "inception_v3", 299, 75, "tf"),
    ("InceptionResNetV2", "inception_resnet_v2", 299, 75, "tf"),
    ("Xception", "xception", 299, 71, "tf"),
    ("MobileNet", "mobilenet", 224, 32, "tf"),
    ("MobileNetV2", "mobilenet_v2", 224, 32, "tf"),
    ("MobileNetV3Small", "mobilenet_v3", 224, 32, "in-model"),
    ("MobileNetV3Large", "mobilenet_v3", 224, 32, "in-model"),
    ("DenseNet121", "densenet", 224, 32, "torch"),
    ("DenseNet169", "densenet", 224, 32, "torch"),
    ("DenseNet201", "densenet", 224, 32, "torch"),
    ("NASNetMobile", "nasnet", 224, 32, "tf"),
    ("NASNetLarge", "nasnet", 331, 32, "tf"),
    ("EfficientNetB0", "efficientnet", 224, 32, "in-model"),
    ("EfficientNetB1", "efficientnet", 240, 32, "in-model"),
    ("EfficientNetB2", "efficientnet", 260, 32, "in-model"),
    ("EfficientNetB3", "efficientnet", 300, 32, "in-model"),
    ("EfficientNetB4", "efficientnet", 380, 32, "in-model"),
    ("EfficientNetB5", "efficientnet", 456, 32, "in-model"),
    ("EfficientNetB6", "efficientnet", 528, 32, "in-model"),
    ("EfficientNetB7", "efficientnet", 600, 32, "in-model"),
    ("ResNeXt50", "resnext", 224, 32, "torch"),
    ("ResNeXt101", "resnext", 224, 32, "torch"),
    ("EfficientNetV2B0", "efficientnet_v2", 224, 32, "in-model"),
    ("EfficientNetV2B1", "efficientnet_v2", 240, 32, "in-model"),
    ("EfficientNetV2B2", "efficientnet_v2", 260, 32, "in-model"),
    ("EfficientNetV2B3", "efficientnet_v2", 300, 32, "in-model"),
    ("EfficientNetV2S", "efficientnet_v2", 384, 32, "in-model"),
    ("EfficientNetV2M", "efficientnet_v2", 480, 32, "in-model"),
    ("EfficientNetV2L", "efficientnet_v2", 480, 32, "in-model"),
    ("ConvNeXtTiny", "convnext", 224, 32, "in-model"),
    ("ConvNeXtSmall", "convnext", 224, 32, "in-model"),
    ("ConvNeXtBase", "convnext", 224, 32, "in-model"),
    ("ConvNeXtLarge", "convnext", 224, 32, "in-model"),
    ("ConvNeXtXLarge", "convnext", 224, 32, "in-model"),
))
# fmt: on

#: Every model function's `ModelSpec`, by the function's name.
MODELS = {m.model: m for m in _MODELS}


def get(name):
    """The `WeightFile` registered as ``name``."""
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(name), REGISTRY, n=8, cutoff=0.6)
        hint = f" Similar names: {', '.join(close[:8])}." if close else ""
        raise ValueError(
            f"Unknown weight file name={name!r}.{hint} "
            "`python -m keras_applications_bn list` shows every registered file."
        ) from None


def model_spec(model):
    """The `ModelSpec` of the model function named ``model`` (exact case)."""
    try:
        return MODELS[model]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(model), MODELS, n=3)
        hint = f" Did you mean {' or '.join(close)}?" if close else ""
        raise ValueError(f"Unknown model={model!r}.{hint}") from None


def module_models(module):
    """The `ModelSpec` of every model function of ``module``, in table order."""
    return [m for m in MODELS.values() if m.module == module]


def module_preprocessing(module):
    """The preprocessing mode of ``module``'s ``preprocess_input`` (that of its models)."""
    modes = {m.preprocessing for m in module_models(module)}
    if len(modes) != 1:
        raise ValueError(f"No single preprocessing mode for module={module!r}: {sorted(modes)}.")
    return modes.pop()


def variant_values(model, argument, **fixed):
    """The values of the variant argument ``argument`` that ``model`` has files
    for, sorted, e.g. ``variant_values("MobileNet", "rows") == (128, 160, 192,
    224)``; ``fixed`` keeps only files with those other variant values (e.g.
    ``minimalistic=True``). Empty when the model's files have no such argument."""
    values = set()
    for entry in REGISTRY.values():
        variant = dict(entry.variant)
        if (
            entry.model == model
            and argument in variant
            and all(variant.get(k) == v for k, v in fixed.items())
        ):
            values.add(variant[argument])
    return tuple(sorted(values))


def lookup(model, *, include_top=True, **variant):
    """The `WeightFile` of ``model`` with (or without) the top, for ``variant``.

    Args:
        model: the model function's name, e.g. ``"MobileNetV2"`` (exact case).
        include_top: whether the file holds the classifier.
        **variant: the model's variant arguments, all of them: ``alpha`` and
            ``rows`` (input size) for ``MobileNet`` and ``MobileNetV2``, ``alpha``
            and ``minimalistic`` for ``MobileNetV3Large``/``MobileNetV3Small``;
            none for the other models.

    Returns:
        The registry entry, e.g. ``lookup("MobileNet", alpha=0.5, rows=128,
        include_top=False).name == "mobilenet_5_0_128_notop"``.

    Raises:
        ValueError: no file is registered for that model and variant; the message
            lists the variants that exist.
    """
    key = tuple(sorted(variant.items()))
    candidates = [f for f in REGISTRY.values() if f.model == model and f.include_top == include_top]
    for entry in candidates:
        if entry.variant == key:
            return entry
    if not candidates:
        models = sorted({f.model for f in REGISTRY.values() if f.model})
        close = difflib.get_close_matches(str(model), models, n=3)
        hint = f" Did you mean {' or '.join(close)}?" if close else ""
        raise ValueError(
            f"No official weights for model={model!r} with include_top={include_top!r}.{hint}"
        )
    known = ", ".join("(" + ", ".join(f"{k}={v!r}" for k, v in f.variant) + ")" for f in candidates)
    asked = ", ".join(f"{k}={v!r}" for k, v in key) or "no variant arguments"
    raise ValueError(
        f"No official {model} weights for {asked} (include_top={include_top!r}). "
        f"Files exist for: {known}."
    )


def resolve_names(patterns):
    """Registry names matching ``patterns``, in registry order, without repeats.

    Each pattern is a registry name (``"resnet50_notop"``), a model name
    (``"ResNet50"``, any case: every file of that model) or a shell-style pattern
    (``"mobilenet_1_0_*"``). A pattern that matches nothing raises ``ValueError``.
    """
    if isinstance(patterns, str):
        patterns = [patterns]
    chosen = []
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern:
            raise TypeError(f"Weight file names must be non-empty strings, got {pattern!r}.")
        if pattern in REGISTRY:
            matches = [pattern]
        else:
            matches = [
                name
                for name, entry in REGISTRY.items()
                if (entry.model or "").lower() == pattern.lower()
                or fnmatch.fnmatchcase(name, pattern)
            ]
        if not matches:
            get(pattern)  # raises the ValueError with suggestions
        chosen.extend(m for m in matches if m not in chosen)
    return chosen
