"""keras-applications-bn: Keras applications whose BatchNormalization can be
pinned to inference mode for fine-tuning.

    from keras_applications_bn import ResNet50
    base = ResNet50(weights="imagenet", include_top=False, inference_bn=True)

Everything is imported lazily: ``import keras_applications_bn`` does not import
Keras or TensorFlow until a model or tool is first used.
"""

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "ResNet50": "resnet50",
    "BatchNormalization": "layers",
    "set_inference_bn": "batchnorm",
    "bn_layers": "batchnorm",
    "decode_predictions": "imagenet_utils",
    "fetch_file": "weights",
}

_SUBMODULES = {
    "batchnorm",
    "imagenet_utils",
    "layers",
    "resnet50",
    "weights",
}

__all__ = sorted(_EXPORTS) + sorted(_SUBMODULES)


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
