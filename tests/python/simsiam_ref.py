"""An independent SimSiam reference in Python TensorFlow 2.18 (eager tf ops).

It mirrors what the Go graph is meant to compute, written from the paper and
torchvision's ResNet layout, not from the Go code: BatchNorm is computed from
tf.nn.moments (the Go side uses FusedBatchNormV3), the optimizer is written out
by hand (the Go side uses ResourceApplyMomentum), gradients come from a
GradientTape (the Go side uses the C API's AddGradients).
"""
import math

import numpy as np
import tensorflow as tf

BLOCKS = {"resnet10": (1, 1, 1, 1), "resnet18": (2, 2, 2, 2), "resnet34": (3, 4, 6, 3)}


def pad_conv(x, k, stride, pad):
    if pad:
        x = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    return tf.nn.conv2d(x, k, strides=stride, padding="VALID")


class Reference:
    """Holds parameters as a dict name -> tf.Variable and runs the model."""

    def __init__(self, ckpt_prefix, settings):
        self.s = settings
        reader = tf.train.load_checkpoint(ckpt_prefix)
        self.shapes = reader.get_variable_to_shape_map()
        self.p = {}
        for name in self.shapes:
            # Optimizer slots, counters, the loss scale and the model-config
            # record (a string) are not parameters of the network.
            if name.startswith(("optimizer/", "loss_scale/", "simsiam/")) or name in ("global_step", "epoch"):
                continue
            self.p[name] = tf.Variable(reader.get_tensor(name), name=name.replace("/", "__"))
        self.eps = settings["bn_eps"]
        self.mom = settings["bn_momentum"]
        self.state = {}  # pending moving statistics within one step

    def trainable(self):
        return sorted(k for k in self.p if not k.endswith(("moving_mean", "moving_variance")))

    # --- layers -------------------------------------------------------------
    def bn(self, name, x, affine=True):
        axes = list(range(len(x.shape) - 1))
        mean, var = tf.nn.moments(x, axes)
        y = (x - mean) / tf.sqrt(var + self.eps)
        if affine:
            y = y * self.p[name + "/gamma"] + self.p[name + "/beta"]
        n = int(np.prod([x.shape[a] for a in axes]))
        mm = self.state.get(name + "/moving_mean", self.p[name + "/moving_mean"])
        mv = self.state.get(name + "/moving_variance", self.p[name + "/moving_variance"])
        self.state[name + "/moving_mean"] = (1 - self.mom) * mm + self.mom * tf.stop_gradient(mean)
        self.state[name + "/moving_variance"] = (1 - self.mom) * mv + self.mom * tf.stop_gradient(var) * n / (n - 1)
        return y

    def block(self, pre, x, stride):
        out = tf.nn.relu(self.bn(pre + "/bn1", pad_conv(x, self.p[pre + "/conv1/kernel"], stride, 1)))
        out = self.bn(pre + "/bn2", pad_conv(out, self.p[pre + "/conv2/kernel"], 1, 1))
        if pre + "/downsample/conv/kernel" in self.p:
            x = self.bn(pre + "/downsample/bn", pad_conv(x, self.p[pre + "/downsample/conv/kernel"], stride, 0))
        return tf.nn.relu(out + x)

    def backbone(self, x):
        if self.s["stem"] == "cifar":
            x = pad_conv(x, self.p["encoder/conv1/kernel"], 1, 1)
        else:
            x = pad_conv(x, self.p["encoder/conv1/kernel"], 2, 3)
        x = tf.nn.relu(self.bn("encoder/bn1", x))
        if self.s["stem"] == "imagenet":
            x = tf.nn.max_pool2d(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], constant_values=-np.inf), 3, 2, "VALID")
        for li, n in enumerate(BLOCKS[self.s["arch"]]):
            for bi in range(n):
                x = self.block(f"encoder/layer{li + 1}/{bi}", x, 2 if li > 0 and bi == 0 else 1)
        return tf.reduce_mean(x, axis=[1, 2])

    def projector(self, h):
        layers = self.s["proj_layers"]
        for i in range(1, layers + 1):
            h = tf.matmul(h, self.p[f"projector/fc{i}/kernel"])
            h = self.bn(f"projector/bn{i}", h, affine=i < layers)
            if i < layers:
                h = tf.nn.relu(h)
        return h

    def predictor(self, z):
        h = tf.nn.relu(self.bn("predictor/bn1", tf.matmul(z, self.p["predictor/fc1/kernel"])))
        return tf.matmul(h, self.p["predictor/fc2/kernel"]) + self.p["predictor/fc2/bias"]

    def forward(self, x):
        z = self.projector(self.backbone(x))
        return z, self.predictor(z)

    # --- loss and step ------------------------------------------------------
    @staticmethod
    def neg_cos(p, z):
        p = p / tf.norm(p, axis=1, keepdims=True)
        z = z / tf.norm(z, axis=1, keepdims=True)
        return -tf.reduce_mean(tf.reduce_sum(p * z, axis=1))

    def loss_and_grads(self, x1, x2):
        names = self.trainable()
        self.state = {}
        with tf.GradientTape() as tape:
            z1, p1 = self.forward(x1)
            z2, p2 = self.forward(x2)
            t1, t2 = (tf.stop_gradient(z1), tf.stop_gradient(z2)) if self.s["stop_gradient"] else (z1, z2)
            loss = 0.5 * self.neg_cos(p1, t2) + 0.5 * self.neg_cos(p2, t1)
        grads = tape.gradient(loss, [self.p[n] for n in names])
        return dict(z1=z1, z2=z2, p1=p1, p2=p2, loss=loss), dict(zip(names, grads))

    def lr_at(self, step, name):
        base = self.s["lr"]
        if self.s["fix_pred_lr"] and name.startswith("predictor/"):
            return base
        return base * 0.5 * (1 + math.cos(math.pi * min(step / self.s["total_steps"], 1.0)))

    def train(self, x1, x2, steps):
        """PyTorch-style SGD: buf = m*buf + (g + wd*w); w -= lr*buf."""
        bufs = {n: tf.zeros_like(self.p[n]) for n in self.trainable()}
        for step in range(steps):
            _, grads = self.loss_and_grads(x1, x2)
            for n, g in grads.items():
                g = g + self.s["weight_decay"] * self.p[n]
                bufs[n] = self.s["momentum"] * bufs[n] + g
                self.p[n].assign_sub(self.lr_at(step, n) * bufs[n])
            for n, v in self.state.items():
                self.p[n].assign(v)
        return bufs
