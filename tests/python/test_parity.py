"""Parity of the Go training graph with an independent Python TF reference.

The Go side (tests/parity/dump) writes its initial weights, a fixed batch, its
forward outputs and gradients, and its weights after three SGD steps as TF
checkpoints; this test rebuilds the same network in Python from those initial
weights and compares.
"""
import json

import numpy as np
import pytest
import tensorflow as tf

from conftest import go_run
from simsiam_ref import Reference


def rel(a, b):
    """Relative L2 error ||a-b||/||b||. The denominator is floored at 1e-3 per
    element so tensors whose true value is ~0 (the predictor's BN input mean is
    ~1e-9 because z is batch-normalised) compare by absolute error instead."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-3 * np.sqrt(b.size)))


@pytest.fixture(scope="module")
def dump(tmp_path_factory):
    out = tmp_path_factory.mktemp("parity")
    go_run("./tests/parity/dump", "-out", str(out))
    with open(out / "settings.json") as f:
        settings = json.load(f)
    return out, settings


def test_checkpoint_names_are_readable(dump):
    out, _ = dump
    shapes = tf.train.load_checkpoint(str(out / "init")).get_variable_to_shape_map()
    for name, shape in [("encoder/conv1/kernel", [3, 3, 3, 8]), ("encoder/layer1/0/bn1/gamma", [8]),
                        ("encoder/layer4/1/conv2/kernel", [3, 3, 64, 64]),
                        ("projector/fc1/kernel", [64, 32]), ("predictor/fc2/bias", [32])]:
        assert shapes.get(name) == shape, (name, shapes.get(name))
    assert "projector/bn3/gamma" not in shapes  # last projector BN has no affine
    assert "global_step" in shapes


def test_forward_and_gradients_match(dump):
    out, s = dump
    go = tf.train.load_checkpoint(str(out / "outputs"))
    ref = Reference(str(out / "init"), s)
    x1, x2 = go.get_tensor("x1"), go.get_tensor("x2")
    outs, grads = ref.loss_and_grads(tf.constant(x1), tf.constant(x2))
    worst = {}
    for k in ("z1", "z2", "p1", "p2", "loss"):
        err = float(np.max(np.abs(outs[k].numpy() - go.get_tensor(k))))
        worst[k] = err
        assert err < 1e-5, f"{k}: max abs error {err}"
    gerr = {n: rel(go.get_tensor("grad/" + n), g.numpy()) for n, g in grads.items()}
    name, err = max(gerr.items(), key=lambda kv: kv[1])
    print(f"\nparity forward max abs: {worst}\nparity gradients: worst rel {err:.2e} ({name}) over {len(gerr)} tensors")
    assert err < 1e-4, f"gradient of {name}: relative error {err}"


def test_three_sgd_steps_match(dump):
    out, s = dump
    go_out = tf.train.load_checkpoint(str(out / "outputs"))
    after = tf.train.load_checkpoint(str(out / "after"))
    ref = Reference(str(out / "init"), s)
    bufs = ref.train(tf.constant(go_out.get_tensor("x1")), tf.constant(go_out.get_tensor("x2")), s["steps"])
    errs = {n: rel(after.get_tensor(n), v.numpy()) for n, v in ref.p.items()}
    errs.update({"optimizer/" + n + "/momentum": rel(after.get_tensor("optimizer/" + n + "/momentum"), b.numpy())
                 for n, b in bufs.items()})
    name, err = max(errs.items(), key=lambda kv: kv[1])
    print(f"\nparity after {s['steps']} steps: worst rel {err:.2e} ({name}) over {len(errs)} tensors")
    assert err < 1e-4, f"{name} after {s['steps']} steps: relative error {err}"
    assert int(after.get_tensor("global_step")) == s["steps"]
    # The weights really moved, so the comparison is not trivially passing.
    init = tf.train.load_checkpoint(str(out / "init"))
    moved = rel(after.get_tensor("encoder/conv1/kernel"), init.get_tensor("encoder/conv1/kernel"))
    assert moved > 1e-3, moved
