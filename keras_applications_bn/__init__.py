"""keras-applications-bn: Keras applications whose BatchNormalization can be
pinned to inference mode for fine-tuning.

    from keras_applications_bn import ResNet50  # also VGG16, VGG19, InceptionV3, MobileNet
    base = ResNet50(weights="imagenet", include_top=False, inference_bn=True)

Importing the package registers its BatchNormalization layer and its
``LayerwiseLR`` optimizer wrapper with Keras (so ``keras.saving.load_model`` can
rebuild saved models after a plain ``import keras_applications_bn``); model
modules and other tools are imported lazily, on first use.
"""

import importlib

from keras_applications_bn.layers import BatchNormalization
from keras_applications_bn import finetune  # noqa: E402,F401  (registers LayerwiseLR)

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "InceptionV3": "inception_v3",
    "MobileNet": "mobilenet",
    "ResNet50": "resnet50",
    "VGG16": "vgg16",
    "VGG19": "vgg19",
    "set_inference_bn": "batchnorm",
    "bn_layers": "batchnorm",
    "reset_bn_statistics": "batchnorm",
    "adapt_bn_statistics": "batchnorm",
    "bn_summary": "batchnorm",
    "forget_traced_functions": "batchnorm",
    "freeze": "finetune",
    "unfreeze": "finetune",
    "LayerwiseLR": "finetune",
    "lr_multipliers": "finetune",
    "decode_predictions": "imagenet_utils",
    "fetch_file": "weights",
}

_SUBMODULES = {
    "batchnorm",
    "blocks",
    "finetune",
    "imagenet_utils",
    "inception_v3",
    "layers",
    "mobilenet",
    "resnet50",
    "vgg16",
    "vgg19",
    "weights",
}

__all__ = ["BatchNormalization"] + sorted(_EXPORTS) + sorted(_SUBMODULES)


def __getattr__(name):
    if name in _EXPORTS:
        module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
        value = getattr(module, name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
