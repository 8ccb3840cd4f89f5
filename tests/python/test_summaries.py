"""Event files written by tfgraph.SummaryWriter read back with TensorFlow.

tests/parity/summaries writes scalars for a few steps through TensorFlow's
summary ops driven from Go and prints what it wrote; this test reads the event
file with tf.compat.v1.train.summary_iterator and with TensorBoard's
EventAccumulator and compares tags, steps and values.
"""
import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from conftest import go_run


def scalar_of(value):
    """The float held by a Summary.Value: TF1 simple_value or a TF2 tensor."""
    if value.WhichOneof("value") == "simple_value":
        return float(value.simple_value)
    assert value.HasField("tensor"), value
    arr = tf.make_ndarray(value.tensor)
    assert arr.size == 1, arr.shape
    return float(arr.reshape(()))


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("summaries")
    proc = go_run("./tests/parity/summaries", "-logdir", str(logdir), "-steps", "5")
    recs = json.loads(proc.stdout)
    files = glob.glob(os.path.join(str(logdir), "events.out.tfevents.*"))
    assert len(files) == 1, files
    return files[0], recs


def test_event_file_has_all_scalars(written):
    path, recs = written
    assert path.endswith(".v2")
    events = list(tf.compat.v1.train.summary_iterator(path))
    assert events[0].file_version.startswith("brain.Event:"), events[0]
    got = {}
    for e in events[1:]:
        for v in e.summary.value:
            got[(v.tag, e.step)] = scalar_of(v)
    want = {(r["tag"], r["step"]): r["value"] for r in recs}
    assert set(got) == set(want), (sorted(got), sorted(want))
    for key, val in want.items():
        assert np.float32(got[key]) == np.float32(val), (key, got[key], val)
    assert {t for t, _ in got} == {"loss", "lr", "knn/top1"}
    assert sorted(s for t, s in got if t == "knn/top1") == [20, 40]
    assert sorted(s for t, s in got if t == "loss") == [10, 20, 30, 40, 50]


def test_tensorboard_reads_scalars(written):
    path, recs = written
    from tensorboard.backend.event_processing import event_accumulator
    acc = event_accumulator.EventAccumulator(path, size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    tags = acc.Tags()
    # TensorBoard files simple_value scalars under "scalars"; TF2 tensor ones under "tensors".
    if "loss" in tags["scalars"]:
        series = {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in tags["scalars"]}
    else:
        series = {t: [(e.step, float(tf.make_ndarray(e.tensor_proto))) for e in acc.Tensors(t)] for t in tags["tensors"]}
    assert set(series) == {"loss", "lr", "knn/top1"}
    for tag, pts in series.items():
        want = sorted((r["step"], r["value"]) for r in recs if r["tag"] == tag)
        assert [s for s, _ in pts] == [s for s, _ in want], tag
        np.testing.assert_allclose([v for _, v in pts], [v for _, v in want], rtol=1e-6)
