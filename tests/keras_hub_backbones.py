"""Small KerasHub image backbones with BatchNormalization, built from their constructors.

No preset is downloaded: each entry builds a randomly initialised backbone (32x32
inputs) with a configuration shrunk from the constructor's documented example.
"""

import keras


def _resnet(block_type, pre_activation):
    import keras_hub

    return keras_hub.models.ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[3],
        stackwise_num_filters=[64, 32],  # KerasHub requires 64 first
        stackwise_num_blocks=[1, 1],
        stackwise_num_strides=[1, 2],
        block_type=block_type,
        use_pre_activation=pre_activation,
        image_shape=(32, 32, 3),
    )


def _efficientnet():
    import keras_hub

    return keras_hub.models.EfficientNetBackbone(
        stackwise_kernel_sizes=[3, 3],
        stackwise_num_repeats=[1, 1],
        stackwise_input_filters=[8, 16],
        stackwise_output_filters=[16, 24],
        stackwise_expansion_ratios=[1, 4],
        stackwise_squeeze_and_excite_ratios=[0.0, 0.25],
        stackwise_strides=[1, 2],
        stackwise_block_types=["fused", "unfused"],
        width_coefficient=1.0,
        depth_coefficient=1.0,
        num_features=32,
        input_shape=(32, 32, 3),
    )


def _mobilenet():
    import keras_hub

    return keras_hub.models.MobileNetBackbone(
        stackwise_expansion=[[16], [32, 32]],
        stackwise_num_blocks=[1, 2],
        stackwise_num_filters=[[8], [16, 16]],
        stackwise_kernel_size=[[3], [3, 3]],
        stackwise_num_strides=[[2], [2, 1]],
        stackwise_se_ratio=[[None], [0.25, 0.25]],
        stackwise_activation=[["relu"], ["hard_swish", "hard_swish"]],
        stackwise_padding=[[1], [1, 1]],
        output_num_filters=32,
        depthwise_filters=8,
        depthwise_stride=1,
        depthwise_residual=False,
        last_layer_filter=48,
        squeeze_and_excite=0.5,
        image_shape=(32, 32, 3),
    )


def _densenet():
    import keras_hub

    return keras_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=8, image_shape=(32, 32, 3)
    )


def _cspnet():
    import keras_hub

    # a CSPDarkNet-style configuration (cross-stage stages of dark blocks), shrunk
    return keras_hub.models.CSPNetBackbone(
        stem_filters=16,
        stem_kernel_size=3,
        stem_strides=2,
        stackwise_depth=[1, 1],
        stackwise_strides=[2, 2],
        stackwise_num_filters=[32, 64],
        block_type="dark_block",
        stage_type="csp",
        expand_ratio=[2.0, 1.0],
        bottle_ratio=[0.5, 1.0],
        block_ratio=[1.0, 0.5],
        down_growth=True,
        image_shape=(32, 32, 3),
    )


def _xception():
    import keras_hub

    return keras_hub.models.XceptionBackbone(
        stackwise_conv_filters=[[8, 16], [16, 32], [32, 32]],
        stackwise_pooling=[True, True, False],
        image_shape=(32, 32, 3),
    )


def _hgnetv2():
    import keras_hub

    return keras_hub.models.HGNetV2Backbone(
        depths=[1, 1],
        embedding_size=16,
        hidden_sizes=[32, 64],
        stem_channels=[3, 8, 16],
        hidden_act="relu",
        use_learnable_affine_block=False,
        stackwise_stage_filters=[(16, 8, 32, 1, 1, 3), (32, 16, 64, 1, 1, 3)],
        apply_downsample=[False, True],
        use_lightweight_conv_block=[False, True],
        image_shape=(32, 32, 3),
    )


BACKBONES = {
    "ResNetBackbone (basic, v1)": lambda: _resnet("basic_block", False),
    "ResNetBackbone (bottleneck, v2)": lambda: _resnet("bottleneck_block", True),
    "EfficientNetBackbone": _efficientnet,
    "MobileNetBackbone": _mobilenet,
    "DenseNetBackbone": _densenet,
    "CSPNetBackbone": _cspnet,
    "XceptionBackbone": _xception,
    "HGNetV2Backbone": _hgnetv2,
}


def build(name, seed=0):
    keras.utils.set_random_seed(seed)
    return BACKBONES[name]()
