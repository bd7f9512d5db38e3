"""Architectures Keras does not ship: the custom CNN baseline and ResNet-18.

Both take an ``input_tensor`` like ``keras.applications`` models, so they build into one flat graph.
"""

import keras
from keras import layers


def custom_cnn(input_tensor, filters=(32, 64, 128)):
    """Three conv blocks (32, 64, 128 filters; 3x3, ReLU, 2x2 max pooling), the reference studies' baseline."""
    x = input_tensor
    for block, width in enumerate(filters, start=1):
        x = layers.Conv2D(width, 3, padding="same", activation="relu", name=f"block{block}_conv")(x)
        x = layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
    return keras.Model(keras.utils.get_source_inputs(input_tensor), x, name="cnn")


def _basic_block(x, filters, stride, name):
    shortcut = x
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_1_conv")(x)
    y = layers.BatchNormalization(epsilon=1.001e-5, name=f"{name}_1_bn")(y)
    y = layers.Activation("relu", name=f"{name}_1_relu")(y)
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(y)
    y = layers.BatchNormalization(epsilon=1.001e-5, name=f"{name}_2_bn")(y)
    if stride != 1 or shortcut.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False, name=f"{name}_0_conv")(shortcut)
        shortcut = layers.BatchNormalization(epsilon=1.001e-5, name=f"{name}_0_bn")(shortcut)
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.Activation("relu", name=f"{name}_out")(y)


def resnet18(input_tensor):
    """ResNet-18 (He et al., 2016): 7x7 stem, four stages of two basic blocks (64, 128, 256, 512 filters)."""
    x = layers.ZeroPadding2D(3, name="conv1_pad")(input_tensor)
    x = layers.Conv2D(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = layers.BatchNormalization(epsilon=1.001e-5, name="conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    for stage, filters in enumerate((64, 128, 256, 512), start=2):
        for block in (1, 2):
            stride = 2 if (block == 1 and stage > 2) else 1
            x = _basic_block(x, filters, stride, name=f"conv{stage}_block{block}")
    return keras.Model(keras.utils.get_source_inputs(input_tensor), x, name="resnet18")

