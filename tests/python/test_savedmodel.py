"""SavedModels between Go and Python, both ways.

Go -> Python: tests/parity/export (Go) trains a tiny SimSiam network for 0
steps, exports it with package export and writes fixed uint8 images with the
embeddings package serve computes for them. Python must load the graph-only
SavedModel with tf.saved_model.load, reproduce the embeddings through the
serving_default signature, and read the training checkpoint with
tf.train.load_checkpoint.

Python -> Go: make_keras_savedmodel.py saves a small Keras CNN with
tf.saved_model.save and records its outputs; Go loads that SavedModel with
package serve (tfgraph.LoadSavedModel) and must reproduce them.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, go_run

tf = pytest.importorskip("tensorflow")

HERE = Path(__file__).resolve().parent
ATOL = 1e-5


@pytest.fixture(scope="module")
def go_export(tmp_path_factory):
    out = tmp_path_factory.mktemp("go_export")
    go_run("./tests/parity/export", "-mode", "export", "-out", str(out))
    return out


def test_python_loads_go_savedmodel(go_export):
    model = tf.saved_model.load(str(go_export / "model"))
    assert set(model.signatures.keys()) == {"serving_default", "projection"}
    serving = model.signatures["serving_default"]
    spec = serving.structured_input_signature[1]["images"]
    assert spec.dtype == tf.uint8
    assert spec.shape.as_list() == [None, None, None, 3]

    images = np.load(go_export / "images.npy")
    assert images.dtype == np.uint8 and images.shape == (6, 20, 24, 3)
    emb = serving(images=tf.constant(images))["embedding"].numpy()
    go_emb = np.load(go_export / "embeddings.npy")
    assert go_emb.dtype == np.float32 and emb.shape == go_emb.shape == (6, 32)
    assert np.abs(emb).max() > 1e-3, "embeddings are all zero: the comparison would be vacuous"
    err = np.abs(emb - go_emb).max()
    print(f"max |python - go| embedding = {err:.3g}")
    assert err <= ATOL

    proj = model.signatures["projection"](images=tf.constant(images))["projection"].numpy()
    go_proj = np.load(go_export / "projection.npy")
    assert proj.shape == go_proj.shape == (6, 16)
    assert np.abs(proj - go_proj).max() <= ATOL

    # Any batch size and image size go through the in-graph resize.
    one = serving(images=tf.constant(images[:1, :13, :17]))["embedding"]
    assert one.shape == (1, 32)


def test_python_reads_go_checkpoints(go_export):
    info = json.loads((go_export / "info.json").read_text())
    reader = tf.train.load_checkpoint(info["checkpoint"])
    shapes = reader.get_variable_to_shape_map()
    assert shapes["encoder/conv1/kernel"] == [3, 3, 3, info["width"]]
    for name in ("encoder/bn1/moving_mean", "encoder/layer4/1/conv2/kernel",
                 "projector/fc1/kernel", "predictor/fc2/bias", "global_step"):
        assert name in shapes, name
    # The model config the checkpoint records (a string scalar of JSON).
    record = json.loads(reader.get_tensor("simsiam/model_config"))
    assert record["model.width"] == info["width"] and record["model.arch"] == "resnet18"
    assert shapes["simsiam/model_config"] == []

    # The SavedModel's own variables: encoder and projector only, same values.
    sm_reader = tf.train.load_checkpoint(str(go_export / "model" / "variables" / "variables"))
    sm_names = set(sm_reader.get_variable_to_shape_map())
    assert sm_names and all(n.startswith(("encoder/", "projector/")) for n in sm_names)
    for name in sm_names:
        np.testing.assert_array_equal(sm_reader.get_tensor(name), reader.get_tensor(name))


def test_go_reproduces_keras_savedmodel(tmp_path):
    subprocess.run([sys.executable, str(HERE / "make_keras_savedmodel.py"), "--out", str(tmp_path)],
                   check=True, cwd=ROOT, timeout=600)
    # The saved signature agrees with the eager model in Python first.
    loaded = tf.saved_model.load(str(tmp_path / "savedmodel"))
    x = np.load(tmp_path / "inputs.npy")
    py = loaded.signatures["serving_default"](images=tf.constant(x))
    np.testing.assert_allclose(py["logits"].numpy(), np.load(tmp_path / "expected_logits.npy"), atol=ATOL, rtol=0)

    go_out = tmp_path / "go"
    go_run("./tests/parity/export", "-mode", "savedmodel", "-model", str(tmp_path / "savedmodel"),
           "-inputs", str(tmp_path / "inputs.npy"), "-out", str(go_out))
    for name in ("logits", "features"):
        want = np.load(tmp_path / f"expected_{name}.npy")
        got = np.load(go_out / f"go_{name}.npy")
        assert got.shape == want.shape, name
        err = np.abs(got - want).max()
        print(f"max |go - keras| {name} = {err:.3g}")
        assert err <= ATOL, name
