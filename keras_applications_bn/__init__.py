"""keras-applications-bn: Keras applications whose BatchNormalization can be
pinned to inference mode for fine-tuning.

    from keras_applications_bn import ResNet50  # or any keras.applications model with BN, VGG16/19, ConvNeXt
    base = ResNet50(weights="imagenet", include_top=False, inference_bn=True)

Importing the package registers its BatchNormalization layer and its
``LayerwiseLR`` optimizer wrapper with Keras (so ``keras.saving.load_model`` can
rebuild saved models after a plain ``import keras_applications_bn``); model
modules and other tools are imported lazily, on first use.
"""

import importlib

from keras_applications_bn._models import tf_keras as _tf_keras
from keras_applications_bn._models import versions as _versions

# An unsupported Keras or TensorFlow: one ImportError that names the versions found
# and needed, before either is imported (see _models.versions).
_versions.check_versions()
# Fail at import, not with a model that silently never trains (see _tf_keras).
_tf_keras.check_environment()

from keras_applications_bn.layers import BatchNormalization  # noqa: E402
from keras_applications_bn.tuning import lr as _lr  # noqa: E402,F401  (registers LayerwiseLR)
from keras_applications_bn.weights import registry  # noqa: E402

__version__ = "0.1.0"

# The model functions: one row each in the registry's model table (``MODELS``),
# which says which module defines each.
_MODELS = {name: spec.module for name, spec in registry.MODELS.items()}

# The tools: public name -> the module that defines it.
_TOOLS = {
    "set_inference_bn": "batchnorm",
    "bn_layers": "batchnorm",
    "reset_bn_statistics": "batchnorm",
    "adapt_bn_statistics": "batchnorm",
    "bn_summary": "batchnorm",
    "forget_traced_functions": "batchnorm",
    "to_keras": "export",
    "fold_batch_norm": "export",
    "export_model": "export",
    "freeze": "tuning",
    "unfreeze": "tuning",
    "LayerwiseLR": "tuning",
    "lr_multipliers": "tuning",
    "AdaptBNStatistics": "tuning",
    "GradualUnfreezing": "tuning",
    "decode_predictions": "imagenet_utils",
    "fetch_file": "weights",
    # the top-level helpers of keras_applications 1.0.8
    "get_submodules_from_kwargs": "legacy",
    "correct_pad": "legacy",
}

_EXPORTS = {**_MODELS, **_TOOLS}

# Importable as attributes: every family module (the registry's), the modules
# keras.applications also has, and the tool modules.
_SUBMODULES = {spec.module for spec in registry.MODELS.values()} | {
    "resnet50",
    "imagenet_utils",
    "layers",
    "legacy",
    "batchnorm",
    "tuning",
    "export",
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
