"""Parity of the Go training step of SimCLR, Barlow Twins and BYOL with a
Python TF reference, as test_parity.py checks SimSiam's: the Go side
(tests/parity/dump -method M) writes its initial weights, a fixed batch, its
forward outputs and gradients and its weights after three SGD steps; the
reference (simsiam_ref.Reference's network, each method's loss from
test_method_losses, BYOL's target as its moving average written out here)
recomputes them from the initial weights.
"""
import json
import math

import numpy as np
import pytest
import tensorflow as tf

from conftest import go_run
from simsiam_ref import Reference
from test_method_losses import barlow_twins, byol, nt_xent
from test_parity import rel

TARGET = "target/"


class MethodReference(Reference):
    """Reference with the method's loss; BYOL's target network is the
    checkpoint's target/ variables, run by a second Reference over them."""

    def __init__(self, ckpt_prefix, settings):
        super().__init__(ckpt_prefix, settings)
        self.method = settings["method"]
        self.target = None
        if self.method == "byol":
            t = Reference.__new__(Reference)
            t.s, t.eps, t.mom, t.state = self.s, self.eps, self.mom, {}
            t.p = {k[len(TARGET):]: v for k, v in self.p.items() if k.startswith(TARGET)}
            self.target = t

    def trainable(self):
        return [n for n in super().trainable() if not n.startswith(TARGET)]

    def forward(self, x):
        z = self.projector(self.backbone(x))
        return z, (self.predictor(z) if "predictor/fc1/kernel" in self.p else None)

    def loss_and_grads(self, x1, x2):
        names = self.trainable()
        self.state = {}
        with tf.GradientTape() as tape:
            z1, p1 = self.forward(x1)
            z2, p2 = self.forward(x2)
            if self.method == "simclr":
                loss = nt_xent(z1, z2, self.s["temperature"])
            elif self.method == "barlow_twins":
                loss = barlow_twins(z1, z2, self.s["lambda"])
            else:
                t = self.target
                t.state = {}  # the target's BatchNorm uses batch statistics; its moving ones follow the average
                t1, t2 = t.projector(t.backbone(x1)), t.projector(t.backbone(x2))
                loss = byol(p1, p2, t1, t2)
        grads = tape.gradient(loss, [self.p[n] for n in names])
        outs = dict(z1=z1, z2=z2, loss=loss)
        if p1 is not None:
            outs.update(p1=p1, p2=p2)
        return outs, dict(zip(names, grads))

    def train(self, x1, x2, steps):
        """Reference.train's SGD, then BYOL's moving average of the updated
        online weights: target = tau target + (1 - tau) online."""
        bufs = {n: tf.zeros_like(self.p[n]) for n in self.trainable()}
        for step in range(steps):
            _, grads = self.loss_and_grads(x1, x2)
            for n, g in grads.items():
                g = g + self.s["weight_decay"] * self.p[n]
                bufs[n] = self.s["momentum"] * bufs[n] + g
                self.p[n].assign_sub(self.lr_at(step, n) * bufs[n])
            for n, v in self.state.items():
                self.p[n].assign(v)
            if self.target is not None:
                k, total = step, self.s["total_steps"]
                tau = 1 - (1 - self.s["tau_base"]) * (math.cos(math.pi * k / total) + 1) / 2
                for n, v in self.target.p.items():
                    v.assign(tau * v + (1 - tau) * self.p[n])
        return bufs


METHODS = ["simclr", "barlow_twins", "byol"]


@pytest.fixture(scope="module", params=METHODS)
def dump(tmp_path_factory, request):
    out = tmp_path_factory.mktemp("parity_" + request.param)
    go_run("./tests/parity/dump", "-out", str(out), "-method", request.param)
    with open(out / "settings.json") as f:
        settings = json.load(f)
    return out, settings


def test_method_forward_and_gradients_match(dump):
    out, s = dump
    go = tf.train.load_checkpoint(str(out / "outputs"))
    ref = MethodReference(str(out / "init"), s)
    if s["method"] == "byol":  # the target starts as the online network
        for n, v in ref.target.p.items():
            assert np.array_equal(v.numpy(), ref.p[n].numpy()), n
    outs, grads = ref.loss_and_grads(tf.constant(go.get_tensor("x1")), tf.constant(go.get_tensor("x2")))
    worst = {}
    for k, v in outs.items():
        want = v.numpy()
        err = float(np.max(np.abs(want - go.get_tensor(k))))
        worst[k] = err
        bound = 1e-5 * max(1.0, float(np.max(np.abs(want)))) if k == "loss" else 1e-5
        assert err < bound, f"{k}: max abs error {err}"
    gerr = {n: rel(go.get_tensor("grad/" + n), g.numpy()) for n, g in grads.items()}
    name, err = max(gerr.items(), key=lambda kv: kv[1])
    print(f"\n{s['method']} parity forward max abs: {worst}\n{s['method']} parity gradients: worst rel {err:.2e} ({name}) over {len(gerr)} tensors")
    assert err < 1e-4, f"gradient of {name}: relative error {err}"


def test_method_three_sgd_steps_match(dump):
    out, s = dump
    go_out = tf.train.load_checkpoint(str(out / "outputs"))
    after = tf.train.load_checkpoint(str(out / "after"))
    ref = MethodReference(str(out / "init"), s)
    bufs = ref.train(tf.constant(go_out.get_tensor("x1")), tf.constant(go_out.get_tensor("x2")), s["steps"])
    errs = {n: rel(after.get_tensor(n), v.numpy()) for n, v in ref.p.items()}
    errs.update({"optimizer/" + n + "/momentum": rel(after.get_tensor("optimizer/" + n + "/momentum"), b.numpy())
                 for n, b in bufs.items()})
    name, err = max(errs.items(), key=lambda kv: kv[1])
    print(f"\n{s['method']} parity after {s['steps']} steps: worst rel {err:.2e} ({name}) over {len(errs)} tensors")
    assert err < 1e-4, f"{name} after {s['steps']} steps: relative error {err}"
    init = tf.train.load_checkpoint(str(out / "init"))
    moved = rel(after.get_tensor("encoder/conv1/kernel"), init.get_tensor("encoder/conv1/kernel"))
    assert moved > 1e-3, moved
    if s["method"] == "byol":  # the target moved, and not as far as the online network
        tm = rel(after.get_tensor(TARGET + "encoder/conv1/kernel"), init.get_tensor("encoder/conv1/kernel"))
        assert 0 < tm < moved, (tm, moved)
