"""Builds a small Keras CNN, saves it as a TF2 SavedModel and records its
outputs on fixed inputs, for the Go side of test_savedmodel.py to reproduce.

    python make_keras_savedmodel.py --out DIR

writes
    DIR/savedmodel/           tf.saved_model.save of the model; the
                              serving_default signature takes
                              images=float32 [N, 12, 12, 3] and returns
                              {"logits": [N, 5], "features": [N, 8]}
    DIR/inputs.npy            float32 [4, 12, 12, 3] fixed inputs
    DIR/expected_logits.npy   the model's outputs on them (eager Keras call)
    DIR/expected_features.npy
"""

import argparse
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402

SIZE, CHANNELS, CLASSES, FEATURES = 12, 3, 5, 8


def build_model(seed=1234):
    """Conv2D -> ReLU -> GlobalAveragePooling -> Dense, seeded weights."""
    tf.keras.utils.set_random_seed(seed)
    inputs = tf.keras.Input(shape=(SIZE, SIZE, CHANNELS), name="images")
    x = tf.keras.layers.Conv2D(FEATURES, 3, padding="same", activation="relu", name="conv")(inputs)
    features = tf.keras.layers.GlobalAveragePooling2D(name="pool")(x)
    logits = tf.keras.layers.Dense(CLASSES, name="dense")(features)
    model = tf.keras.Model(inputs, [logits, features], name="tiny_cnn")
    # Non-zero biases, so that a forgotten bias would show.
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if getattr(layer, "bias", None) is not None:
            layer.bias.assign(rng.standard_normal(layer.bias.shape).astype(np.float32) * 0.1)
    return model


class Exported(tf.Module):
    """The serving function, saved as serving_default, and the variables it reads.

    Keras 3 wraps every tf.Variable in a keras.Variable. When a Keras model is
    itself part of the saved object graph, tf.saved_model.save writes copies
    of its variables ("Variable_N") and the SavedModel's saver restores those,
    while the traced functions read the wrapped tf.Variables: Python's loader
    copes (it restores objects), but the C API loader used by Go and by
    TensorFlow Serving only runs the saver and leaves the functions' variables
    uninitialised. Tracking the wrapped tf.Variables directly, as
    keras.export.ExportArchive does, gives a SavedModel every loader reads.
    """

    def __init__(self, model):
        super().__init__()
        self.tf_variables = [getattr(v, "value", v) for v in model.variables]

        @tf.function(input_signature=[tf.TensorSpec([None, SIZE, SIZE, CHANNELS], tf.float32, name="images")])
        def serve(images):
            logits, features = model(images, training=False)
            return {"logits": logits, "features": features}

        self.serve = serve


def make(out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model = build_model()
    module = Exported(model)
    tf.saved_model.save(module, str(out / "savedmodel"), signatures={"serving_default": module.serve})
    x = np.random.default_rng(7).standard_normal((4, SIZE, SIZE, CHANNELS)).astype(np.float32)
    logits, features = model(x, training=False)
    np.save(out / "inputs.npy", x)
    np.save(out / "expected_logits.npy", np.asarray(logits, dtype=np.float32))
    np.save(out / "expected_features.npy", np.asarray(features, dtype=np.float32))
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output directory")
    make(p.parse_args().out)


if __name__ == "__main__":
    main()
