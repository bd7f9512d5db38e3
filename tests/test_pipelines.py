import numpy as np
import pytest

from pneumonet.data import subset
from pneumonet.pipelines import Augment, ArrayDataset, cached_images, load_arrays
from pneumonet.pipelines import cache as cache_module


def test_cache_reads_back_without_decoding(synthetic_catalog, tmp_path, monkeypatch):
    paths = synthetic_catalog["path"].tolist()[:20]
    first, errors = cached_images(paths, (40, 40), cache_dir=tmp_path, progress=False)
    assert first.shape == (20, 40, 40) and first.dtype == np.uint8 and not errors

    def boom(*args, **kwargs):
        raise AssertionError("decoded again despite a warm cache")

    monkeypatch.setattr(cache_module, "decode_images", boom)
    again, _ = cached_images(paths, (40, 40), cache_dir=tmp_path, progress=False)
    np.testing.assert_array_equal(first, again)
    with pytest.raises(AssertionError, match="decoded again"):
        cached_images(paths, (36, 36), cache_dir=tmp_path, progress=False)  # another size: another key


def test_cache_key_follows_file_changes(synthetic_catalog, tmp_path):
    import shutil

    src = synthetic_catalog["path"].tolist()[:3]
    copies = []
    for p in src:
        copies.append(tmp_path / p.split("/")[-1])
        shutil.copy(p, copies[-1])
    key = cache_module.cache_key(copies, (32, 32))
    copies[0].write_bytes(open(src[1], "rb").read() + b"\0")
    assert cache_module.cache_key(copies, (32, 32)) != key


def test_evaluation_order_matches_labels(synthetic_arrays):
    images, labels, kept = synthetic_arrays["test"]
    data = ArrayDataset(images, labels, batch_size=7)
    xs, ys = zip(*(data[i] for i in range(len(data))))
    np.testing.assert_array_equal(np.concatenate(ys), labels)
    np.testing.assert_array_equal(np.concatenate(xs)[..., 0], images.astype(np.float32))
    assert len(kept) == len(images)


def test_shuffle_and_augment_are_deterministic(synthetic_arrays):
    images, labels, _ = synthetic_arrays["train"]
    a = ArrayDataset(images, labels, batch_size=8, shuffle=True, augment=Augment(), seed=5)
    b = ArrayDataset(images, labels, batch_size=8, shuffle=True, augment=Augment(), seed=5)
    np.testing.assert_array_equal(a[1][0], b[1][0])
    before = a[1][0].copy()
    a.on_epoch_end()
    assert not np.array_equal(before, a[1][0])  # a new epoch reshuffles and re-augments


def test_identity_augment_changes_nothing(synthetic_arrays):
    images = synthetic_arrays["train"][0][:4]
    still = Augment(rotation=0, shift=0, shear=0, zoom=0, brightness=(1, 1))
    np.testing.assert_array_equal(still.apply_batch(images, np.random.default_rng(0)), images)


def test_augment_moves_pixels_but_keeps_orientation():
    image = np.zeros((1, 64, 64), np.uint8)
    image[:, :, :16] = 255  # a bright left edge
    out = Augment(horizontal_flip=False).apply_batch(image, np.random.default_rng(0))[0]
    assert not np.array_equal(out, image[0])
    assert out[:, :32].mean() > out[:, 32:].mean()  # no flip: the bright side stays left


def test_sample_matrices_compose_like_image_data_generator():
    """The closed form equals ImageDataGenerator's product centre @ rotate @ shift @ shear @ zoom @ uncentre."""
    theta, shear, zx, zy, tx, ty = np.radians(7.0), np.radians(-3.0), 1.05, 0.92, 0.04, -0.07
    height, width = 40, 60
    rng = _FixedRng([[7.0], [-3.0], [[zx], [zy]], [[tx], [ty]]])
    matrix = Augment().sample_matrices(rng, 1, height, width)[0]
    cx, cy = (width - 1) / 2, (height - 1) / 2
    rotate = np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]])
    shift = np.array([[1, 0, tx * width], [0, 1, ty * height], [0, 0, 1]])
    shear_m = np.array([[1, -np.sin(shear), 0], [0, np.cos(shear), 0], [0, 0, 1]])
    zoom = np.diag([zx, zy, 1.0])
    centre, uncentre = np.eye(3), np.eye(3)
    centre[:2, 2], uncentre[:2, 2] = (cx, cy), (-cx, -cy)
    np.testing.assert_allclose(matrix, centre @ rotate @ shift @ shear_m @ zoom @ uncentre, atol=1e-12)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="uint8"):
        ArrayDataset(np.zeros((2, 8, 8), np.float32))
    with pytest.raises(ValueError, match="differ in length"):
        ArrayDataset(np.zeros((2, 8, 8), np.uint8), labels=[0])


def test_set_epoch_replays_an_epoch(synthetic_arrays):
    images, labels, _ = synthetic_arrays["train"]
    data = ArrayDataset(images, labels, batch_size=8, shuffle=True, augment=Augment(), seed=3)
    first = data.set_epoch(2)[1]
    data.on_epoch_end()
    assert not np.array_equal(first[0], data[1][0])
    np.testing.assert_array_equal(data.set_epoch(2)[1][0], first[0])


@pytest.mark.tensorflow
def test_classic_pipeline_order_and_augmentation(synthetic_catalog):
    from pneumonet.pipelines.classic import classic_flow, classic_flow_from_directory

    frame = subset(synthetic_catalog, "test")
    flow = classic_flow(frame, (32, 32), batch_size=5)
    assert flow.shuffle is False
    labels = np.concatenate([flow[i][1] for i in range(len(flow))])
    np.testing.assert_array_equal(labels, frame["label"].to_numpy())
    train = classic_flow(frame, (32, 32), batch_size=5, augment=Augment())
    assert train.shuffle is True and train.image_data_generator.rotation_range == 10
    assert train.image_data_generator.horizontal_flip is False
    x, _ = train[0]
    assert x.shape == (5, 32, 32, 1) and x.dtype == np.float32
    directory = classic_flow_from_directory(frame["path"][0].rsplit("/", 2)[0], (32, 32))
    assert directory.samples == len(frame)


def test_load_arrays_drops_unreadable(synthetic_catalog, tmp_path):
    frame = subset(synthetic_catalog, "val").copy()
    bad = tmp_path / "IM-0001-0001.jpeg"
    bad.write_bytes(b"not a jpeg")
    frame.loc[len(frame)] = {**frame.iloc[0].to_dict(), "path": str(bad)}
    with pytest.warns(UserWarning, match="IM-0001-0001.jpeg"):
        images, labels, kept = load_arrays(frame, (32, 32), progress=False)
    assert len(images) == len(frame) - 1 == len(kept) == len(labels)
    assert str(bad) in kept.attrs["unreadable"]


class _FixedRng:
    """Hands out preset values, in the order ``Augment.apply_batch`` draws them, in the shape asked for."""

    def __init__(self, values):
        self.values = list(values)

    def uniform(self, low, high, size=None):
        return np.reshape(np.asarray(self.values.pop(0), dtype=float), size)


def test_device_augmentation_matches_the_cpu_recipe(monkeypatch):
    from pneumonet.models.layers import AffineAugment

    yy, xx = np.mgrid[0:48, 0:48]
    image = (127 + 100 * np.sin(xx / 6.0) * np.cos(yy / 9.0)).astype(np.uint8)  # smooth, so resampling agrees
    params = {"theta": 7.0, "shear": 3.0, "zx": 1.05, "zy": 0.95, "tx": 0.05, "ty": -0.03, "brightness": 1.1}
    rng = _FixedRng([[params["theta"]], [params["shear"]], [[params["zx"]], [params["zy"]]],
                     [[params["tx"]], [params["ty"]]], [params["brightness"]]])
    cpu = Augment().apply_batch(image[None], rng)[0].astype(np.float32)
    layer = AffineAugment()
    order = iter(["theta", "shear", "zx", "zy", "tx", "ty", "brightness"])
    monkeypatch.setattr(layer, "_uniform", lambda batch, low, high: np.full((1,), params[next(order)], "float32"))
    device = np.asarray(layer(image[None, ..., None].astype("float32"), training=True))[0, ..., 0]
    inner = (slice(8, 40), slice(8, 40))  # borders differ only by how each library treats the edge pixel
    assert np.abs(device[inner] - cpu[inner]).mean() < 3.0
    assert np.abs(device[inner] - image[inner]).mean() > 10  # and the transform did something


def test_device_augmentation_is_identity_at_inference():
    from pneumonet.models.layers import AffineAugment

    x = np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 1)).astype("float32")
    np.testing.assert_array_equal(np.asarray(AffineAugment()(x)), x)
    moved = np.asarray(AffineAugment(seed=1)(x, training=True))
    assert moved.shape == x.shape and not np.allclose(moved, x) and moved.min() >= 0 and moved.max() <= 255
