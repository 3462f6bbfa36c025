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

from keras_applications_bn import _tf_keras

# Fail at import, not with a model that silently never trains (see _tf_keras).
_tf_keras.check_environment()

from keras_applications_bn.layers import BatchNormalization  # noqa: E402
from keras_applications_bn import finetune  # noqa: E402,F401  (registers LayerwiseLR)

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    # models
    "ConvNeXtBase": "convnext",
    "ConvNeXtLarge": "convnext",
    "ConvNeXtSmall": "convnext",
    "ConvNeXtTiny": "convnext",
    "ConvNeXtXLarge": "convnext",
    "DenseNet121": "densenet",
    "DenseNet169": "densenet",
    "DenseNet201": "densenet",
    "EfficientNetB0": "efficientnet",
    "EfficientNetB1": "efficientnet",
    "EfficientNetB2": "efficientnet",
    "EfficientNetB3": "efficientnet",
    "EfficientNetB4": "efficientnet",
    "EfficientNetB5": "efficientnet",
    "EfficientNetB6": "efficientnet",
    "EfficientNetB7": "efficientnet",
    "EfficientNetV2B0": "efficientnet_v2",
    "EfficientNetV2B1": "efficientnet_v2",
    "EfficientNetV2B2": "efficientnet_v2",
    "EfficientNetV2B3": "efficientnet_v2",
    "EfficientNetV2L": "efficientnet_v2",
    "EfficientNetV2M": "efficientnet_v2",
    "EfficientNetV2S": "efficientnet_v2",
    "InceptionResNetV2": "inception_resnet_v2",
    "InceptionV3": "inception_v3",
    "MobileNet": "mobilenet",
    "MobileNetV2": "mobilenet_v2",
    "MobileNetV3Large": "mobilenet_v3",
    "MobileNetV3Small": "mobilenet_v3",
    "NASNetLarge": "nasnet",
    "NASNetMobile": "nasnet",
    "ResNet101": "resnet",
    "ResNet152": "resnet",
    "ResNet50": "resnet50",
    "ResNet101V2": "resnet_v2",
    "ResNet152V2": "resnet_v2",
    "ResNet50V2": "resnet_v2",
    "ResNeXt50": "resnext",
    "ResNeXt101": "resnext",
    "VGG16": "vgg16",
    "VGG19": "vgg19",
    "Xception": "xception",
    # tools
    "set_inference_bn": "batchnorm",
    "bn_layers": "batchnorm",
    "reset_bn_statistics": "batchnorm",
    "adapt_bn_statistics": "batchnorm",
    "bn_summary": "batchnorm",
    "forget_traced_functions": "batchnorm",
    "to_keras": "convert",
    "freeze": "finetune",
    "unfreeze": "finetune",
    "LayerwiseLR": "finetune",
    "lr_multipliers": "finetune",
    "AdaptBNStatistics": "callbacks",
    "GradualUnfreezing": "callbacks",
    "decode_predictions": "imagenet_utils",
    "fetch_file": "weights",
    # the top-level helpers of keras_applications 1.0.8
    "get_submodules_from_kwargs": "legacy",
    "correct_pad": "legacy",
    "fold_batch_norm": "deploy",
    "export_model": "deploy",
}

_SUBMODULES = {
    "batchnorm",
    "blocks",
    "callbacks",
    "convnext",
    "convert",
    "densenet",
    "deploy",
    "efficientnet",
    "efficientnet_v2",
    "finetune",
    "imagenet_utils",
    "inception_resnet_v2",
    "inception_v3",
    "layers",
    "legacy",
    "mobilenet",
    "mobilenet_v2",
    "mobilenet_v3",
    "nasnet",
    "resnet",
    "resnet50",
    "resnet_v2",
    "resnext",
    "vgg16",
    "vgg19",
    "weights",
    "xception",
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
