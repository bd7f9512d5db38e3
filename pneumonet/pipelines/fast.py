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
        listed = "".join(f"\n  {p}: {r}" for p, r in errors.items())
        warnings.warn(f"skipped {len(errors)} unreadable image(s):{listed}", stacklevel=2)
    kept = frame[keep].reset_index(drop=True)
    kept.attrs.update(frame.attrs)
    kept.attrs["unreadable"] = {**frame.attrs.get("unreadable", {}), **errors}
    return images[keep], kept[label_column].to_numpy(), kept


def _per_channel_affine(preprocess):
    """(scale, offset) when ``preprocess`` maps RGB pixels by ``x * scale + offset`` per channel, else None.

    On gray images replicated to RGB, every keras.applications ``preprocess_input`` (caffe, tf, torch modes) is
    such a map, so it can be applied while the channels are expanded, in one pass instead of three.
    Checked on random probes, so any other function falls back to the generic path.
    """
    zero = np.asarray(preprocess(np.zeros((1, 1, 1, 3), np.float32)), np.float64).reshape(3)
    one = np.asarray(preprocess(np.ones((1, 1, 1, 3), np.float32)), np.float64).reshape(3)
    scale, offset = one - zero, zero
    gray = np.random.default_rng(0).uniform(0, 255, (2, 4, 4, 1)).astype(np.float32)
    probe = np.repeat(gray, 3, axis=-1)  # only ever applied to gray images replicated to RGB (so BGR flips agree)
    if not np.allclose(np.asarray(preprocess(probe.copy()), np.float64), gray * scale + offset, atol=1e-3):
        return None
    return scale.astype(np.float32), offset.astype(np.float32)


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
        if dtype not in ("float32", "uint8") or (dtype == "uint8" and (preprocess or channels != 1)):
            raise ValueError("dtype must be 'float32', or 'uint8' with one channel and no preprocessing (the "
                             f"model then casts and preprocesses on the device). Received: dtype={dtype!r}")
        self.preprocess, self.channels, self.seed, self.dtype = preprocess, channels, seed, dtype
        self.epoch = 0
        self.order = self._order()
        self._affine = _per_channel_affine(preprocess) if channels == 3 and preprocess is not None else None

    def _order(self):
        if not self.shuffle:
            return np.arange(len(self.images))
        return np.random.default_rng([self.seed, self.epoch]).permutation(len(self.images))

    def __len__(self):
        return int(np.ceil(len(self.images) / self.batch_size))

    def __getitem__(self, index):
        rows = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        pixels = self.images[rows]
        if self.augment is not None:
            pixels = self.augment.apply_batch(pixels, np.random.default_rng([self.seed, self.epoch, index]))
        if self.dtype == "uint8":
            # uint8 batches move 4x fewer bytes to an accelerator; the model casts them there
            batch = pixels[..., None]
        elif self.channels == 3 and self._affine is not None:
            # gray -> RGB and the backbone's per-channel affine preprocessing while converting to float, one
            # strided write per channel (numpy broadcasts over a size-3 axis slowly)
            scale, offset = self._affine
            batch = np.empty((*pixels.shape, 3), np.float32)
            if np.all(scale == scale[0]):  # caffe and tf modes: scale once, then one strided add per channel
                base = pixels if scale[0] == 1 else pixels * scale[0]
                for channel in range(3):
                    np.add(base, offset[channel], out=batch[..., channel], casting="unsafe")
            else:
                for channel in range(3):
                    np.multiply(pixels, scale[channel], out=batch[..., channel], casting="unsafe")
                    batch[..., channel] += offset[channel]
        else:
            batch = pixels[..., None].astype(np.float32)
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
