"""Data sets written by the real tools read the same from Go.

A tensorflow-datasets builder turns in-memory arrays into a prepared TFDS
folder (dataset_info.json, features.json, label.labels.txt, PNG-encoded
tf.train.Example shards named {name}-{split}.tfrecord-{i:05d}-of-{n:05d}),
laid out like STL-10's (train, test, and an "unlabelled" split whose labels
are -1). TensorFlow's tf.io.TFRecordWriter writes plain TFRecord files with
PNG and JPEG images. tests/parity/readdata reads them with data.OpenWith and
dumps what it got; the pixels must be the source arrays (not transposed,
flipped or channel-swapped) and the labels theirs. Nothing is downloaded.
"""
import json

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from conftest import go_run

H, W = 12, 20  # not square, so a transpose cannot pass
NAMES = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]
SPLITS = {"train": (0, 30), "test": (30, 20), "unlabelled": (50, 25)}


def picture(i):
    """Image i: every pixel and channel depends on i, row and column differently."""
    y, x, c = np.meshgrid(np.arange(H), np.arange(W), np.arange(3), indexing="ij")
    return ((i * 37 + y * 11 + x * 3 + c * 101 + (y * x) % 7) % 256).astype(np.uint8)


def image_id(img):
    """Recovers i from picture(i)[0, 0, 0] = 37 i mod 256 (37 is invertible mod 256)."""
    return (int(img[0, 0, 0]) * pow(37, -1, 256)) % 256


def label_of(i, split):
    return -1 if split == "unlabelled" else (i * 7) % 10


class SimsiamStl10Like(tfds.core.GeneratorBasedBuilder):
    """STL-10's TFDS layout at a small size, from in-memory arrays."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(H, W, 3)),
                "label": tfds.features.ClassLabel(names=NAMES),
            }),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager):
        return {name: self._generate_examples(name, *span) for name, span in SPLITS.items()}

    def _generate_examples(self, split, first, count):
        for i in range(first, first + count):
            yield i, {"image": picture(i), "label": label_of(i, split)}


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tensorflow_datasets")
    builder = SimsiamStl10Like(data_dir=str(data_dir))
    # Three shards per split, so that reading crosses shard boundaries.
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(num_shards=3))
    return data_dir, builder


def read_go(tmp_path, fmt, directory, split, **flags):
    out = tmp_path / f"go-{fmt}-{split.replace('+', '_')}"
    args = ["./tests/parity/readdata", "-format", fmt, "-dir", str(directory), "-split", split, "-out", str(out)]
    for k, v in flags.items():
        args += [f"-{k}", str(v)]
    go_run(*args)
    meta = json.loads((out / "meta.json").read_text())
    pix = np.fromfile(out / "pixels.u8", np.uint8).reshape(meta["N"], meta["H"], meta["W"], meta["C"])
    labels = np.fromfile(out / "labels.i32", "<i4") if meta["labelled"] else None
    return meta, pix, labels


def test_tfds_layout_is_the_librarys_own(tfds_dir):
    data_dir, builder = tfds_dir
    root = data_dir / "simsiam_stl10_like" / "1.0.0"
    assert (root / "dataset_info.json").is_file() and (root / "features.json").is_file()
    shards = sorted(p.name for p in root.glob("*.tfrecord-*"))
    assert "simsiam_stl10_like-unlabelled.tfrecord-00000-of-00003" in shards, shards
    assert len(shards) == 9, shards
    info = json.loads((root / "dataset_info.json").read_text())
    lengths = {s["name"]: sum(int(n) for n in s["shardLengths"]) for s in info["splits"]}
    assert lengths == {name: span[1] for name, span in SPLITS.items()}


@pytest.mark.parametrize("split", ["train", "test"])
def test_tfds_split_pixels_and_labels(tfds_dir, tmp_path, split):
    data_dir, builder = tfds_dir
    root = data_dir / "simsiam_stl10_like" / "1.0.0"
    meta, pix, labels = read_go(tmp_path, "tfds", root, split)
    first, count = SPLITS[split]
    assert (meta["N"], meta["H"], meta["W"], meta["C"]) == (count, H, W, 3)
    assert meta["num_classes"] == 10 and meta["class_names"] == NAMES
    ids = [image_id(img) for img in pix]
    assert sorted(ids) == list(range(first, first + count))
    for img, i, lab in zip(pix, ids, labels):
        np.testing.assert_array_equal(img, picture(i), err_msg=f"image {i}")
        assert lab == label_of(i, split)
    # The same multiset of (image, label) as tensorflow-datasets itself reads.
    ref = sorted((image_id(ex["image"]), int(ex["label"])) for ex in tfds.as_numpy(builder.as_dataset(split=split)))
    assert sorted(zip(ids, labels.tolist())) == ref
    # Images follow the shards' file order, record by record.
    files = sorted(str(p) for p in root.glob(f"simsiam_stl10_like-{split}.tfrecord-*"))
    order = []
    for rec in tf.data.TFRecordDataset(files):
        ex = tf.io.parse_single_example(rec, {"image": tf.io.FixedLenFeature([], tf.string)})
        order.append(image_id(tf.io.decode_png(ex["image"]).numpy()))
    assert ids == order


def test_tfds_unlabelled_split_by_name_under_tfds_data_dir(tfds_dir, tmp_path, monkeypatch):
    data_dir, _ = tfds_dir
    monkeypatch.setenv("TFDS_DATA_DIR", str(data_dir))
    # STL-10's binary-version spelling finds TFDS's "unlabelled" split; the
    # name resolves under TFDS_DATA_DIR; -1 labels give an unlabelled set.
    meta, pix, labels = read_go(tmp_path, "tfds", "simsiam_stl10_like:1.0.0", "unlabeled")
    assert labels is None and meta["N"] == 25
    assert sorted(image_id(img) for img in pix) == list(range(50, 75))
    meta, pix, labels = read_go(tmp_path, "tfds", "simsiam_stl10_like", "train+unlabelled")
    assert labels is None and meta["N"] == 55
    for img in pix:
        np.testing.assert_array_equal(img, picture(image_id(img)))


def test_tfds_grey_decoding(tfds_dir, tmp_path):
    data_dir, _ = tfds_dir
    root = data_dir / "simsiam_stl10_like" / "1.0.0"
    _, rgb, _ = read_go(tmp_path, "tfds", root, "test")
    meta, grey, _ = read_go(tmp_path, "tfds", root, "test", channels=1)
    assert (meta["N"], meta["C"]) == (20, 1)
    # The same order, each image the BT.601 luma of its RGB, as TensorFlow's
    # rgb_to_grayscale computes it (to within rounding).
    want = tf.image.rgb_to_grayscale(np.stack([picture(image_id(img)) for img in rgb])).numpy()
    assert np.abs(grey.astype(int) - want.astype(int)).max() <= 1


def write_tfrecord(path, images, labels, encode):
    with tf.io.TFRecordWriter(str(path)) as w:
        for img, lab in zip(images, labels):
            ex = tf.train.Example(features=tf.train.Features(feature={
                "jpeg_or_png": tf.train.Feature(bytes_list=tf.train.BytesList(value=[encode(img).numpy()])),
                "class": tf.train.Feature(int64_list=tf.train.Int64List(value=[lab])),
                "note": tf.train.Feature(float_list=tf.train.FloatList(value=[0.5])),
            }))
            w.write(ex.SerializeToString())


def test_plain_tfrecord_png_and_jpeg(tmp_path):
    images = [picture(i) for i in range(9)]
    labels = [(i * 3) % 4 for i in range(9)]
    png_dir, jpeg_dir = tmp_path / "png", tmp_path / "jpeg"
    png_dir.mkdir()
    jpeg_dir.mkdir()
    write_tfrecord(png_dir / "train-00000-of-00002.tfrecord", images[:5], labels[:5], tf.io.encode_png)
    write_tfrecord(png_dir / "train-00001-of-00002.tfrecord", images[5:], labels[5:], tf.io.encode_png)
    meta, pix, got_labels = read_go(tmp_path, "tfrecord", png_dir, "train", image="jpeg_or_png", label="class")
    assert (meta["N"], meta["H"], meta["W"], meta["C"], meta["num_classes"]) == (9, H, W, 3, 4)
    np.testing.assert_array_equal(pix, np.stack(images))
    assert got_labels.tolist() == labels

    # JPEG: smooth images (Go's decoder replicates subsampled chroma where
    # libjpeg interpolates it, which differs a lot on sharp colour edges).
    y, x, c = np.meshgrid(np.arange(H), np.arange(W), np.arange(3), indexing="ij")
    smooth = [(i * 10 + y * 4 + x * 2 + c * 30).astype(np.uint8) for i in range(9)]
    write_tfrecord(jpeg_dir / "train.tfrecord", smooth, labels, lambda im: tf.io.encode_jpeg(im, quality=95))
    meta, pix, got_labels = read_go(tmp_path, "tfrecord", jpeg_dir / "train.tfrecord", "", image="jpeg_or_png", label="class")
    ref = np.stack([tf.io.decode_jpeg(tf.io.encode_jpeg(im, quality=95)).numpy() for im in smooth])
    diff = np.abs(pix.astype(int) - ref.astype(int))
    assert diff.mean() < 1.5 and diff.max() <= 8, (diff.mean(), diff.max())
    assert got_labels.tolist() == labels
