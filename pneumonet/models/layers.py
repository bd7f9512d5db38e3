"""Small serializable layers that make a pneumonet model self-contained (raw 0-255 pixels in, probability out).

Registered with Keras, so ``.keras`` files load in safe mode with no Lambda layer and no arbitrary code.
"""

import keras
from keras import ops

# keras.applications preprocess_input modes, written with keras.ops so they run on every backend
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)
PREPROCESS_MODES = ("caffe", "tf", "torch", "unit", "none")


@keras.saving.register_keras_serializable(package="pneumonet")
class ToRGB(keras.layers.Layer):
    """Repeat a one-channel (grayscale) image to three channels; three-channel input passes through."""

    def call(self, inputs):
        if inputs.shape[-1] == 1:
            return ops.repeat(inputs, 3, axis=-1)
        return inputs

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 3)


@keras.saving.register_keras_serializable(package="pneumonet")
class BackbonePreprocess(keras.layers.Layer):
    """The backbone's ``preprocess_input`` as a layer, on RGB pixels in 0..255.

    caffe: RGB->BGR and ImageNet mean subtraction (VGG16, ResNet50); tf: scale to [-1, 1] (InceptionV3,
    MobileNetV2, ResNet152V2, Xception); torch: [0, 1] then ImageNet mean/std (DenseNet121); unit: [0, 1]
    (custom CNN, ResNet-18); none: the model rescales itself (EfficientNet).
    """

    def __init__(self, mode, **kwargs):
        super().__init__(**kwargs)
        if mode not in PREPROCESS_MODES:
            raise ValueError(f"mode must be one of {PREPROCESS_MODES}. Received: mode={mode!r}")
        self.mode = mode

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        if self.mode == "caffe":
            x = ops.flip(x, axis=-1)
            return x - ops.convert_to_tensor(_CAFFE_MEAN_BGR, dtype=x.dtype)
        if self.mode == "tf":
            return x / 127.5 - 1.0
        if self.mode == "torch":
            mean = ops.convert_to_tensor(_TORCH_MEAN, dtype=x.dtype)
            std = ops.convert_to_tensor(_TORCH_STD, dtype=x.dtype)
            return (x / 255.0 - mean) / std
        if self.mode == "unit":
            return x / 255.0
        return x

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable(package="pneumonet")
class RandomBrightnessContrast(keras.layers.Layer):
    """Photometric augmentation (brightness and contrast jitter) for pixels in 0..255; identity at inference.

    Cheap on every backend, unlike Keras' geometric augmentation layers, so it may sit inside the model.
    """

    def __init__(self, brightness=0.1, contrast=0.1, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.brightness, self.contrast, self.seed = float(brightness), float(contrast), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=False):
        if not training:
            return inputs
        batch = ops.shape(inputs)[0]
        shape = (batch, 1, 1, 1)
        shift = keras.random.uniform(shape, -self.brightness, self.brightness, seed=self.seed_generator) * 255.0
        scale = keras.random.uniform(shape, 1 - self.contrast, 1 + self.contrast, seed=self.seed_generator)
        mean = ops.mean(inputs, axis=(1, 2, 3), keepdims=True)
        return ops.clip((inputs - mean) * scale + mean + shift, 0.0, 255.0)

    def get_config(self):
        return {**super().get_config(), "brightness": self.brightness, "contrast": self.contrast, "seed": self.seed}
