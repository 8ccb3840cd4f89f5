"""Reference for augment's parity test (augment/parity_test.go).

Usage: augment_ref.py DIR

DIR holds the inputs (NAME.npy) and the Go outputs (NAME_out.npy) of every
building block; this script recomputes each output with tf.image where it has
the same convention, with NumPy otherwise, and prints one JSON object that
maps each operation to max |Go - reference|.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def main(d):
    def load(name):
        return np.load(os.path.join(d, name + ".npy"))

    with open(os.path.join(d, "params.json")) as f:
        params = json.load(f)

    img = load("img")
    n = img.shape[0]
    diffs = {}

    def check(name, ref):
        got = load(name + "_out")
        ref = np.asarray(ref, dtype=np.float64)
        if got.shape != ref.shape:
            raise SystemExit(f"{name}: Go shape {got.shape}, reference {ref.shape}")
        diffs[name] = float(np.max(np.abs(got.astype(np.float64) - ref)))

    def per_sample(v):
        return np.asarray(v, dtype=np.float32).reshape(-1, 1, 1, 1)

    def grey_tf(x):
        # tf.image.rgb_to_grayscale: 0.2989 R + 0.587 G + 0.114 B.
        return tf.image.rgb_to_grayscale(x).numpy()

    # Crop and resize: TensorFlow's op itself, box i for image i.
    boxes = load("boxes")
    size = load("crop_and_resize_out").shape[1]
    check("crop_and_resize",
          tf.image.crop_and_resize(img, boxes, tf.range(n), [size, size], method="bilinear"))

    # Horizontal flip where the mask is 1.
    mask = load("flip_mask").astype(bool).reshape(-1, 1, 1, 1)
    check("flip", np.where(mask, tf.image.flip_left_right(img).numpy(), img))

    # Brightness, torchvision's multiplicative form written with tf ops
    # (tf.image.adjust_brightness is additive).
    b = load("brightness")
    check("adjust_brightness", tf.clip_by_value(img * per_sample(b), 0.0, 1.0))

    # Contrast, torchvision's blend towards the mean of the grey image.
    def contrast(x, f):
        g = grey_tf(x) if x.shape[-1] == 3 else x
        m = g.mean(axis=(1, 2, 3), keepdims=True)
        f = per_sample(f)
        return np.clip(f * x + (1 - f) * m, 0, 1)

    c = load("contrast")
    check("adjust_contrast", contrast(img, c))
    check("adjust_contrast_grey", contrast(load("grey"), c))

    # Saturation, torchvision's blend with the grey image (tf.image's
    # adjust_saturation scales S in HSV space, a different operation).
    def saturation(x, f):
        f = per_sample(f)
        return np.clip(f * x + (1 - f) * grey_tf(x), 0, 1)

    s = load("saturation")
    check("adjust_saturation", saturation(img, s))

    # Hue: tf.image.adjust_hue, one scalar delta per image.
    def hue(x, delta):
        return np.stack([tf.image.adjust_hue(x[i], float(delta[i])).numpy() for i in range(x.shape[0])])

    h = load("hue")
    check("adjust_hue", hue(img, h))

    # Grayscale replicated to 3 channels.
    g3 = np.repeat(grey_tf(img), 3, axis=-1)
    check("grayscale", g3)
    gm = load("gray_mask").astype(bool).reshape(-1, 1, 1, 1)
    check("random_grayscale", np.where(gm, g3, img))

    # Gaussian blur: torchvision's kernel and reflect padding, separable.
    def blur(x, sigma, k):
        out = np.empty_like(x, dtype=np.float64)
        r = k // 2
        t = np.arange(k) - r
        for i in range(x.shape[0]):
            xi = x[i].astype(np.float64)
            if sigma[i] <= 0:
                out[i] = xi
                continue
            w = np.exp(-0.5 * (t / float(sigma[i])) ** 2)
            w /= w.sum()
            p = np.pad(xi, ((r, r), (r, r), (0, 0)), mode="reflect")
            hh, ww = xi.shape[:2]
            v = sum(w[j] * p[j:j + hh, :, :] for j in range(k))
            out[i] = sum(w[j] * v[:, j:j + ww, :] for j in range(k))
        return out

    check("gaussian_blur", blur(load("blur_img"), load("blur_sigma"), params["blur_kernel"]))
    check("gaussian_blur_small",
          blur(load("blur_small"), load("blur_small_sigm"), params["blur_small_kernel"]))

    # Colour jitter with a fixed order per sample (0 brightness, 1 contrast,
    # 2 saturation, 3 hue), applied where jitter_apply is 1.
    apply = load("jitter_apply")
    order = load("jitter_order")

    def jitter(x):
        out = x.copy()
        for i in range(n):
            if apply[i] <= 0.5:
                continue
            y = x[i:i + 1]
            for op in order[i]:
                if op == 0:
                    y = np.clip(y * b[i], 0, 1).astype(np.float32)
                elif op == 1:
                    y = contrast(y, c[i:i + 1]).astype(np.float32)
                elif x.shape[-1] == 1:
                    continue  # saturation and hue need colour
                elif op == 2:
                    y = saturation(y, s[i:i + 1]).astype(np.float32)
                else:
                    y = hue(y, h[i:i + 1]).astype(np.float32)
            out[i] = y[0]
        return out

    check("color_jitter", jitter(img))
    check("color_jitter_grey", jitter(load("grey")))

    # Eval: torchvision's Resize(R) of the shorter side + CenterCrop(size),
    # with tf.image.resize (bilinear, half-pixel centres, no antialiasing).
    def eval_ref(x, size):
        hh, ww = x.shape[1:3]
        short = min(hh, ww)
        r = round(size * 256 / 224) if short > 1.1 * size else size
        nh, nw = (r * hh) // short, (r * ww) // short
        y = tf.image.resize(x, [nh, nw], method="bilinear").numpy()
        top, left = int(round((nh - size) / 2.0)), int(round((nw - size) / 2.0))
        return y[:, top:top + size, left:left + size, :] / 255.0

    for name in ("eval_big", "eval_small"):
        x = load(name).astype(np.uint8)
        check(name, eval_ref(x, load(name + "_out").shape[1]))

    json.dump(diffs, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(sys.argv[1])
