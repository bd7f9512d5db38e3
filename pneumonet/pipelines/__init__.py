"""Input pipelines: ``classic`` (ImageDataGenerator, TensorFlow) and ``fast`` (cached arrays, any backend)."""

from pneumonet.pipelines.augment import Augment
from pneumonet.pipelines.cache import cached_images
from pneumonet.pipelines.fast import ArrayDataset, load_arrays

__all__ = ["Augment", "ArrayDataset", "cached_images", "load_arrays"]
