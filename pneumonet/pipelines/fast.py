"""The fast pipeline: cached uint8 arrays, handed to Keras as they are or through a ``keras.utils.PyDataset``.

Images are decoded once (``cache.cached_images``). Training passes the uint8 arrays straight to Keras (the model
casts, augments and preprocesses on the device); ``ArrayDataset`` serves batches augmented on the CPU instead.
Works with every Keras backend.
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


class ArrayDataset(keras.utils.PyDataset):
    """Float32 batches (N, H, W, 1) from uint8 images (N, H, W), optionally shuffled and augmented on the CPU.

    Without ``shuffle`` the order is the array order, so predictions line up with labels. Shuffling and
    augmentation draw from ``np.random.default_rng([seed, epoch])`` and ``([seed, epoch, batch])``: the same
    seed gives the same batches on any number of workers, and ``set_epoch`` replays any epoch exactly.
    """

    def __init__(self, images, labels=None, batch_size=32, shuffle=False, augment=None, seed=0, workers=1,
                 **kwargs):
        super().__init__(workers=workers, use_multiprocessing=False, **kwargs)
        images = np.asarray(images)
        if images.ndim != 3 or images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 of shape (N, H, W). Received: {images.dtype} {images.shape}")
        if labels is not None and len(labels) != len(images):
            raise ValueError(f"labels and images differ in length. Received: {len(labels)} and {len(images)}")
        self.images, self.labels = images, (None if labels is None else np.asarray(labels))
        self.batch_size, self.shuffle, self.augment, self.seed = int(batch_size), bool(shuffle), augment, seed
        self.set_epoch(0)

    def set_epoch(self, epoch):
        """Serve epoch ``epoch``'s order and augmentation next (the epoch loop replays epochs on resume)."""
        self.epoch = epoch
        self.order = (np.random.default_rng([self.seed, epoch]).permutation(len(self.images)) if self.shuffle
                      else np.arange(len(self.images)))
        return self

    def __len__(self):
        return int(np.ceil(len(self.images) / self.batch_size))

    def pixels(self, index):
        """Batch ``index`` as uint8 (B, H, W), augmented when asked, and its rows."""
        rows = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        pixels = self.images[rows]
        if self.augment is not None:
            pixels = self.augment.apply_batch(pixels, np.random.default_rng([self.seed, self.epoch, index]))
        return pixels, rows

    def __getitem__(self, index):
        pixels, rows = self.pixels(index)
        batch = pixels[..., None].astype(np.float32)
        if self.labels is None:
            return batch
        return batch, self.labels[rows].astype(np.float32)

    def on_epoch_end(self):
        self.set_epoch(self.epoch + 1)
