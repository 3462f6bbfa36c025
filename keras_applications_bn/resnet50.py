"""ResNet50 (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016).

Layer names, order and weights match Keras' official ImageNet files, so
``weights="imagenet"`` loads ``resnet50_weights_tf_dim_ordering_tf_kernels*.h5``.
Default input 224x224 (any size from 32x32 without the top); preprocessing:
``"caffe"`` mode. With ``inference_bn=True`` every BatchNormalization runs in inference mode.
"""

from keras import layers

from keras_applications_bn import imagenet_utils
from keras_applications_bn.imagenet_utils import decode_predictions
from keras_applications_bn.layers import batch_norm

__all__ = ["ResNet50", "preprocess_input", "decode_predictions"]

BN_EPSILON = 1.001e-5

preprocess_input = imagenet_utils.preprocessor("caffe", "ResNet")


def bottleneck_block(x, filters, *, inference_bn, stride=1, conv_shortcut=True, name):
    """1x1 reduce -> 3x3 -> 1x1 expand (x4), added to the (projected) shortcut."""
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        shortcut = batch_norm(shortcut, inference_bn, epsilon=BN_EPSILON, name=f"{name}_0_bn")
    else:
        shortcut = x

    x = layers.Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
    x = batch_norm(x, inference_bn, epsilon=BN_EPSILON, name=f"{name}_1_bn")
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)

    x = layers.Conv2D(filters, 3, padding="same", name=f"{name}_2_conv")(x)
    x = batch_norm(x, inference_bn, epsilon=BN_EPSILON, name=f"{name}_2_bn")
    x = layers.Activation("relu", name=f"{name}_2_relu")(x)

    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    x = batch_norm(x, inference_bn, epsilon=BN_EPSILON, name=f"{name}_3_bn")

    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def stage(x, filters, blocks, *, inference_bn, stride=2, name):
    """One stage: a projecting block (which may downsample), then identity blocks."""
    x = bottleneck_block(x, filters, inference_bn=inference_bn, stride=stride, name=f"{name}_block1")
    for i in range(2, blocks + 1):
        x = bottleneck_block(
            x, filters, inference_bn=inference_bn, conv_shortcut=False, name=f"{name}_block{i}"
        )
    return x


def stem(x, *, inference_bn, use_bias=True):
    """7x7/2 convolution, BN, ReLU, 3x3/2 max pooling."""
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(x)
    x = layers.Conv2D(64, 7, strides=2, use_bias=use_bias, name="conv1_conv")(x)
    x = batch_norm(x, inference_bn, epsilon=BN_EPSILON, name="conv1_bn")
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    return layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)


def ResNet50(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="resnet50",
    inference_bn=False,
):
    img_input = imagenet_utils.model_input(
        input_tensor=input_tensor, input_shape=input_shape, default_size=224,
        min_size=32, include_top=include_top, weights=weights, classes=classes,
        classifier_activation=classifier_activation, pooling=pooling,
    )

    x = stem(img_input, inference_bn=inference_bn)
    x = stage(x, 64, 3, inference_bn=inference_bn, stride=1, name="conv2")
    x = stage(x, 128, 4, inference_bn=inference_bn, name="conv3")
    x = stage(x, 256, 6, inference_bn=inference_bn, name="conv4")
    x = stage(x, 512, 3, inference_bn=inference_bn, name="conv5")

    x = imagenet_utils.classifier_head(
        x, include_top=include_top, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation,
    )
    return imagenet_utils.create_model(
        img_input, x, input_tensor=input_tensor, name=name, weights=weights,
        weights_name="resnet50", include_top=include_top,
    )


ResNet50.__doc__ = imagenet_utils.model_docstring(
    "ResNet50", module="resnet50", top="the classifier (``avg_pool`` + ``predictions``)",
    default_size=224, min_size=32, mode="caffe",
)
