"""The classic pipeline that courses teach: ``ImageDataGenerator`` with ``flow_from_dataframe``/``_directory``.

Needs TensorFlow (Keras 3 exports the legacy generator only as ``tf.keras.preprocessing.image``). Training
flows augment and shuffle; evaluation flows do neither, so predictions line up with ``frame`` row by row.
"""

from pneumonet.data.catalog import CLASS_NAMES


def image_data_generator(augment=None, preprocess=None):
    """An ``ImageDataGenerator`` for ``augment`` (an ``Augment`` or None) and a ``preprocess`` function."""
    from tensorflow.keras.preprocessing.image import ImageDataGenerator  # TensorFlow only where needed

    kwargs = augment.idg_kwargs() if augment is not None else {}
    return ImageDataGenerator(preprocessing_function=preprocess, **kwargs)


def _flow_args(image_size, batch_size, shuffle, seed, color_mode, class_mode):
    if color_mode not in ("grayscale", "rgb"):
        raise ValueError(f"color_mode must be 'grayscale' or 'rgb'. Received: color_mode={color_mode!r}")
    return dict(target_size=tuple(image_size), batch_size=batch_size, shuffle=shuffle, seed=seed,
                color_mode=color_mode, class_mode=class_mode, interpolation="bilinear")


def classic_flow(frame, image_size, batch_size=32, augment=None, shuffle=None, preprocess=None, seed=42,
                 color_mode="grayscale", class_mode="binary", y_col="class_name", classes=CLASS_NAMES):
    """``flow_from_dataframe`` over the ``path`` column; ``shuffle`` defaults to True only when augmenting.

    pneumonet models carry their own preprocessing, so ``preprocess`` stays None for them; pass a backbone's
    ``preprocess_input`` for a model built with ``include_preprocessing=False``.
    """
    shuffle = augment is not None if shuffle is None else shuffle
    generator = image_data_generator(augment, preprocess)
    return generator.flow_from_dataframe(
        frame, x_col="path", y_col=y_col, classes=list(classes), validate_filenames=False,
        **_flow_args(image_size, batch_size, shuffle, seed, color_mode, class_mode))


def classic_flow_from_directory(directory, image_size, batch_size=32, augment=None, shuffle=None, preprocess=None,
                                seed=42, color_mode="grayscale", class_mode="binary", classes=CLASS_NAMES):
    """``flow_from_directory`` over ``directory/{NORMAL,PNEUMONIA}`` (one split of the Kaggle layout)."""
    shuffle = augment is not None if shuffle is None else shuffle
    generator = image_data_generator(augment, preprocess)
    return generator.flow_from_directory(str(directory), classes=list(classes),
                                         **_flow_args(image_size, batch_size, shuffle, seed, color_mode, class_mode))
