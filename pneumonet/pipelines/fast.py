"""The fast pipeline: cached uint8 arrays served by a backend-agnostic ``keras.utils.PyDataset``.

Images are decoded once (``cache.cached_images``); each batch is cut from memory, augmented with one affine
warp per image on the CPU when asked, and handed to Keras as float32. Works with every Keras backend.
"""

import warnings

import keras
import numpy as np

from pneumonet.pipelines.cache import cached_images


def load_arrays(frame, image_size, cache_dir=None, progress=True, label_column="label"):
    """Decode (or read back) the images of ``frame``; returns (images, labels, kept_frame).

    Unreadable files are dropped, counted in ``kept_frame.attrs['unreadable']`` and warned about by name, so a
    long run never dies halfway over one bad file.
    """
    images, errors = cached_images(frame["path"].tolist(), image_size, cache_dir=cache_dir, progress=progress)
    keep = ~frame["path"].isin(set(errors)).to_numpy()
    if errors:
        listed = "; ".join(f"{p}: {r}" for p, r in list(errors.items())[:5])
        warnings.warn(f"skipped {len(errors)} unreadable image(s): {listed}", stacklevel=2)
    kept = frame[keep].reset_index(drop=True)
    kept.attrs.update(frame.attrs)
    kept.attrs["unreadable"] = {**frame.attrs.get("unreadable", {}), **errors}
    return images[keep], kept[label_column].to_numpy(), kept


class ArrayDataset(keras.utils.PyDataset):
    """Batches from uint8 images (N, H, W): optional shuffling, augmentation, channel expansion, preprocessing.

    Without ``shuffle`` the order is the array order, so predictions line up with labels. ``dtype="uint8"``
    hands raw pixels over for a model that augments and preprocesses on the device (``AffineAugment``). Augmentation draws
    from ``np.random.default_rng([seed, epoch, batch])``: the same seed gives the same batches on any number of
    workers.
    """

    def __init__(self, images, labels=None, batch_size=32, shuffle=False, augment=None, preprocess=None,
                 channels=1, seed=0, workers=1, dtype="float32", **kwargs):
        super().__init__(workers=workers, use_multiprocessing=False, **kwargs)
        images = np.asarray(images)
        if images.ndim != 3 or images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 of shape (N, H, W). Received: {images.dtype} {images.shape}")
        if labels is not None and len(labels) != len(images):
            raise ValueError(f"labels and images differ in length. Received: {len(labels)} and {len(images)}")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3. Received: channels={channels}")
        self.images, self.labels = images, (None if labels is None else np.asarray(labels))
        self.batch_size, self.shuffle, self.augment = int(batch_size), bool(shuffle), augment
        if dtype not in ("float32", "uint8") or (dtype == "uint8" and (augment or preprocess)):
            raise ValueError("dtype must be 'float32', or 'uint8' without CPU augmentation or preprocessing (the "
                             f"model then casts on the device). Received: dtype={dtype!r}")
        self.preprocess, self.channels, self.seed, self.dtype = preprocess, channels, seed, dtype
        self.epoch = 0
        self.order = self._order()

    def _order(self):
        if not self.shuffle:
            return np.arange(len(self.images))
        return np.random.default_rng([self.seed, self.epoch]).permutation(len(self.images))

    def __len__(self):
        return int(np.ceil(len(self.images) / self.batch_size))

    def __getitem__(self, index):
        rows = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        if self.augment is None:
            # uint8 batches move 4x fewer bytes to an accelerator; the model casts them there
            batch = self.images[rows] if self.dtype == "uint8" else self.images[rows].astype(np.float32)
        else:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            batch = np.stack([self.augment.apply(self.images[row], rng) for row in rows])
        batch = batch[..., None]
        if self.channels == 3:
            batch = np.repeat(batch, 3, axis=-1)
        if self.preprocess is not None:
            batch = self.preprocess(batch)
        if self.labels is None:
            return batch
        return batch, self.labels[rows].astype(np.float32)

    def on_epoch_end(self):
        self.epoch += 1
        self.order = self._order()


def fast_dataset(frame, image_size, batch_size=32, augment=None, shuffle=False, cache_dir=None, seed=0,
                 preprocess=None, channels=1, label_column="label", progress=True, workers=1):
    """(``ArrayDataset``, kept_frame) for the rows of ``frame``; see ``load_arrays`` for unreadable files."""
    images, labels, kept = load_arrays(frame, image_size, cache_dir=cache_dir, progress=progress,
                                       label_column=label_column)
    dataset = ArrayDataset(images, labels, batch_size=batch_size, shuffle=shuffle, augment=augment,
                           preprocess=preprocess, channels=channels, seed=seed, workers=workers)
    return dataset, kept
