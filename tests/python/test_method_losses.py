"""Parity of the Go methods' losses with independent Python TF references.

The Go side (tests/parity/lossdump) writes two random projections z1, z2, the
method's loss of them and its gradients as a TF checkpoint; each reference
below recomputes them with TensorFlow from the paper's formula and the test
compares, in float32, to 1e-5.
"""
import json

import numpy as np
import pytest
import tensorflow as tf

from conftest import go_run

BOUND = 1e-5


def nt_xent(z1, z2, temperature):
    """SimCLR's NT-Xent the way google-research/simclr's objective builds it:
    l2-normalised projections, logits of each view against the other view
    (ab, ba) and against its own (aa, bb, the diagonal masked by -1e9), and a
    softmax cross-entropy whose label is the other view of the same image;
    the mean over the 2N views."""
    a, b = tf.math.l2_normalize(z1, 1), tf.math.l2_normalize(z2, 1)
    n = tf.shape(a)[0]
    labels = tf.one_hot(tf.range(n), 2 * n)
    mask = tf.one_hot(tf.range(n), n)
    logits_aa = tf.matmul(a, a, transpose_b=True) / temperature - mask * 1e9
    logits_bb = tf.matmul(b, b, transpose_b=True) / temperature - mask * 1e9
    logits_ab = tf.matmul(a, b, transpose_b=True) / temperature
    logits_ba = tf.matmul(b, a, transpose_b=True) / temperature
    loss_a = tf.nn.softmax_cross_entropy_with_logits(labels, tf.concat([logits_ab, logits_aa], 1))
    loss_b = tf.nn.softmax_cross_entropy_with_logits(labels, tf.concat([logits_ba, logits_bb], 1))
    return (tf.reduce_mean(loss_a) + tf.reduce_mean(loss_b)) / 2


def barlow_twins(z1, z2, lam):
    """Barlow Twins' loss as the paper's pseudo-code writes it: each view's
    projections batch-normalised without affine parameters (biased variance,
    eps 1e-5), the D x D cross-correlation over the batch, the on-diagonal
    terms (1 - c_ii)^2 plus lambda times the off-diagonal c_ij^2."""
    def bn(z):
        mean, var = tf.nn.moments(z, axes=[0])
        return tf.nn.batch_normalization(z, mean, var, None, None, 1e-5)
    n = tf.cast(tf.shape(z1)[0], tf.float32)
    c = tf.matmul(bn(z1), bn(z2), transpose_a=True) / n
    on_diag = tf.reduce_sum(tf.square(tf.linalg.diag_part(c) - 1))
    off_diag = tf.reduce_sum(tf.square(c - tf.linalg.diag(tf.linalg.diag_part(c))))
    return on_diag + lam * off_diag


def byol(p1, p2, t1, t2):
    """BYOL's symmetric loss: 2 - 2 cos(online prediction, target projection
    of the other view), both directions summed, averaged over the batch; the
    targets carry no gradient."""
    def pair(p, t):
        t = tf.stop_gradient(t)
        cos = tf.reduce_sum(tf.math.l2_normalize(p, 1) * tf.math.l2_normalize(t, 1), 1)
        return 2 - 2 * cos
    return tf.reduce_mean(pair(p1, t2) + pair(p2, t1))


REFERENCES = {"simclr": nt_xent, "barlow_twins": barlow_twins}

# (method, batch, dimension, its parameter, seed)
CASES = [
    ("simclr", 16, 32, 0.5, 1),
    ("simclr", 8, 16, 0.1, 2),
    ("barlow_twins", 32, 16, 5e-3, 3),
    ("barlow_twins", 16, 24, 0.1, 4),
    ("byol", 16, 32, 0.0, 5),
]


@pytest.fixture(scope="module", params=CASES, ids=lambda c: f"{c[0]}-n{c[1]}-d{c[2]}-p{c[3]}")
def lossdump(tmp_path_factory, request):
    method, n, d, param, seed = request.param
    out = tmp_path_factory.mktemp("loss_" + method)
    go_run("./tests/parity/lossdump", "-out", str(out), "-method", method, "-n", str(n), "-d", str(d),
           "-param", str(param), "-seed", str(seed))
    with open(out / "settings.json") as f:
        settings = json.load(f)
    return out, settings


def test_loss_and_gradients_match(lossdump):
    out, s = lossdump
    go = tf.train.load_checkpoint(str(out / "outputs"))
    z1 = tf.Variable(go.get_tensor("z1"))
    z2 = tf.Variable(go.get_tensor("z2"))
    with tf.GradientTape() as tape:
        if s["method"] == "byol":
            loss = byol(z1, z2, tf.constant(go.get_tensor("t1")), tf.constant(go.get_tensor("t2")))
        else:
            loss = REFERENCES[s["method"]](z1, z2, s["param"])
    g1, g2 = tape.gradient(loss, [z1, z2])
    lerr = abs(float(loss.numpy()) - float(go.get_tensor("loss")))
    gerr = {n: float(np.max(np.abs(go.get_tensor("grad/" + n) - g.numpy()))) for n, g in (("z1", g1), ("z2", g2))}
    scale = max(float(np.max(np.abs(g1.numpy()))), float(np.max(np.abs(g2.numpy()))))
    print(f"\n{s['method']} n={s['n']} d={s['d']} param={s['param']}: loss {float(loss.numpy()):.6f}, "
          f"|diff| {lerr:.2e}; gradients max |diff| {max(gerr.values()):.2e} (largest entry {scale:.2e})")
    assert lerr < BOUND * max(1.0, abs(float(loss.numpy()))), f"loss: {lerr}"
    for n, e in gerr.items():
        assert e < BOUND * scale, f"gradient of {n}: max abs error {e}"
    # The reference is not trivially equal: the gradients are not zero.
    assert scale > 1e-4
