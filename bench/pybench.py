"""Python/Keras reference for the Go SimSiam trainer benchmark.

The same SimSiam training step as the Go trainer builds (ResNet-18 with the
CIFAR stem, 3-layer projection MLP, bottleneck predictor, symmetric negative
cosine with stop-gradient, SGD with momentum and coupled L2 weight decay,
fixed predictor learning rate), written the way a TensorFlow 2.18 user would:
a tf.keras model, a ``tf.function`` train step, and a ``tf.data`` input
pipeline that augments every image in ``Dataset.map``.

One process measures one configuration and prints one JSON line on stdout.
Modes:

  graph  both views are tensors already in memory: train step only.
  e2e    CIFAR-10-format file -> tf.data (shuffle, per-image augmentation,
         batch, prefetch) -> train step.
  infer  tf.saved_model.load of the SavedModel the Go exporter wrote, then
         the serving_default signature (uint8 images -> embeddings) timed
         for each of --batches.

The time to the first step counts from BENCH_LAUNCH_NS (Unix nanoseconds at
which the driver started the process) when set, otherwise from the first line
of this script.
"""

import time

T_MAIN_NS = time.time_ns()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)
SCHEDULE_STEPS = 1_000_000


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=("graph", "e2e", "infer"), default="graph")
    ap.add_argument("--label", default="")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--batches", default="", help="graph and infer modes: comma-separated batch sizes to measure in turn "
                    "(batch-size scaling; --batch then only sets the learning rate)")
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--arch", choices=("resnet18", "resnet34"), default="resnet18")
    ap.add_argument("--proj-dim", type=int, default=2048)
    ap.add_argument("--proj-hidden", type=int, default=2048)
    ap.add_argument("--proj-layers", type=int, choices=(2, 3), default=3)
    ap.add_argument("--pred-hidden", type=int, default=512)
    ap.add_argument("--image-size", type=int, default=32)
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps after the first one")
    ap.add_argument("--steps", type=int, default=10, help="timed steps per block")
    ap.add_argument("--blocks", type=int, default=3, help="timed blocks inside the process")
    ap.add_argument("--xla", action="store_true", help="tf.function(jit_compile=True)")
    ap.add_argument("--precision", choices=("fp32", "mixed_bfloat16", "grappler_bf16"), default="fp32",
                    help="mixed_bfloat16: Keras' mixed_bfloat16 policy (bf16 compute, fp32 variables); "
                         "grappler_bf16: the fp32 model with grappler's auto_mixed_precision_onednn_bfloat16 rewrite")
    ap.add_argument("--intra", type=int, default=0, help="intra-op threads (0 = TensorFlow default)")
    ap.add_argument("--inter", type=int, default=0, help="inter-op threads (0 = TensorFlow default)")
    ap.add_argument("--data", default="", help="CIFAR-10-format binary file (e2e mode)")
    ap.add_argument("--matmul", type=int, default=0, help="also time an NxN float32 MatMul (0 = skip)")
    ap.add_argument("--matmul-runs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default="", help="infer mode: SavedModel directory (written by bench/goinfer)")
    ap.add_argument("--seconds", type=float, default=1.0, help="infer mode: minimum duration of one timed block")
    ap.add_argument("--pipeline-probe", type=int, default=1, help="e2e: also time the tf.data pipeline alone")
    return ap.parse_args(argv)


def summarize(values):
    s = sorted(values)
    return {"median": statistics.median(s), "min": s[0], "max": s[-1], "n": len(s), "values": list(values)}


# --------------------------------------------------------------------------
# Network
# --------------------------------------------------------------------------


def build_network(args, keras):
    """Encoder (backbone + projector) and predictor as Keras models."""
    layers = keras.layers
    # torchvision: kaiming_normal_(mode="fan_out", nonlinearity="relu") for
    # convs; nn.Linear default U(+-1/sqrt(fan_in)) for weights and biases.
    conv_init = keras.initializers.VarianceScaling(2.0, mode="fan_out", distribution="untruncated_normal", seed=args.seed)

    def linear_init(offset):
        return keras.initializers.VarianceScaling(1.0 / 3.0, mode="fan_in", distribution="uniform", seed=args.seed + offset)

    def bn(gamma_zero=False, affine=True):
        return layers.BatchNormalization(
            momentum=0.9, epsilon=1e-5, center=affine, scale=affine,
            gamma_initializer="zeros" if gamma_zero else "ones")

    def conv(x, filters, k, stride, pad):
        if pad:
            x = layers.ZeroPadding2D(pad)(x)  # torch-style symmetric padding
        return layers.Conv2D(filters, k, strides=stride, padding="valid", use_bias=False,
                             kernel_initializer=conv_init)(x)

    def basic_block(x, planes, stride):
        shortcut = x
        if stride != 1 or x.shape[-1] != planes:
            shortcut = bn()(conv(x, planes, 1, stride, 0))
        y = layers.ReLU()(bn()(conv(x, planes, 3, stride, 1)))
        y = bn(gamma_zero=True)(conv(y, planes, 3, 1, 1))
        return layers.ReLU()(layers.Add()([y, shortcut]))

    blocks = {"resnet18": (2, 2, 2, 2), "resnet34": (3, 4, 6, 3)}[args.arch]
    size = args.image_size
    inp = keras.Input((size, size, 3))
    x = layers.ReLU()(bn()(conv(inp, args.width, 3, 1, 1)))  # CIFAR stem: 3x3/1, no pooling
    for stage, n in enumerate(blocks):
        for i in range(n):
            x = basic_block(x, args.width << stage, 2 if stage > 0 and i == 0 else 1)
    x = layers.GlobalAveragePooling2D()(x)
    for i in range(args.proj_layers):
        last = i == args.proj_layers - 1
        x = layers.Dense(args.proj_dim if last else args.proj_hidden, use_bias=False,
                         kernel_initializer=linear_init(i))(x)
        x = bn(affine=not last)(x)
        if not last:
            x = layers.ReLU()(x)
    encoder = keras.Model(inp, x, name="encoder")

    zin = keras.Input((args.proj_dim,))
    y = layers.Dense(args.pred_hidden, use_bias=False, kernel_initializer=linear_init(10))(zin)
    y = layers.ReLU()(bn()(y))
    y = layers.Dense(args.proj_dim, kernel_initializer=linear_init(11), bias_initializer=linear_init(12))(y)
    predictor = keras.Model(zin, y, name="predictor")
    return encoder, predictor


def count_network(encoder, predictor, keras):
    """Analytic forward FLOPs per image (convs and matmuls, 2 per MAC) and
    trainable parameters, read from the Keras layers."""
    flops = {"backbone": 0, "projector": 0, "predictor": 0}
    seen_dense = False
    for layer in encoder.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kh, kw, cin, cout = layer.kernel.shape
            _, ho, wo, _ = layer.output.shape
            flops["backbone"] += 2 * kh * kw * cin * cout * ho * wo
        elif isinstance(layer, keras.layers.Dense):
            seen_dense = True
            flops["projector"] += 2 * layer.kernel.shape[0] * layer.kernel.shape[1]
    assert seen_dense
    for layer in predictor.layers:
        if isinstance(layer, keras.layers.Dense):
            flops["predictor"] += 2 * layer.kernel.shape[0] * layer.kernel.shape[1]
    params = sum(int(v.numpy().size) for v in encoder.trainable_variables + predictor.trainable_variables)
    per_image = sum(flops.values())
    return {
        "trainable_params": params,
        "fwd_flops_per_image": per_image,
        "fwd_flops_backbone": flops["backbone"],
        "fwd_flops_projector": flops["projector"],
        "fwd_flops_predictor": flops["predictor"],
        "train_flops_per_image": 6 * per_image,
        "trainable_variable_count": len(encoder.trainable_variables) + len(predictor.trainable_variables),
        "flop_convention": "2 per multiply-add; convs + matmuls only; train = 3 x forward x 2 views",
    }


def make_train_step(args, tf, keras, encoder, predictor):
    base_lr = 0.03 * args.batch / 256
    weight_decay = 5e-4
    schedule = keras.optimizers.schedules.CosineDecay(base_lr, decay_steps=SCHEDULE_STEPS)
    opt = keras.optimizers.SGD(schedule, momentum=0.9)
    opt_pred = keras.optimizers.SGD(base_lr, momentum=0.9)  # fix_pred_lr
    enc_vars = encoder.trainable_variables
    pred_vars = predictor.trainable_variables
    opt.build(enc_vars)
    opt_pred.build(pred_vars)

    def neg_cosine(p, z):
        p, z = tf.cast(p, tf.float32), tf.cast(z, tf.float32)  # the loss stays float32 under a mixed policy
        p = tf.math.l2_normalize(p, axis=1)
        z = tf.math.l2_normalize(tf.stop_gradient(z), axis=1)
        return -tf.reduce_mean(tf.reduce_sum(p * z, axis=1))

    def z_std(z):
        z = tf.math.l2_normalize(tf.cast(z, tf.float32), axis=1)
        return tf.reduce_mean(tf.math.reduce_std(z, axis=0)) * tf.sqrt(float(z.shape[-1]))

    # The batch dimension is left open, as in the Go graph's placeholders:
    # one trace serves every batch size.
    view = tf.TensorSpec((None, args.image_size, args.image_size, 3), tf.float32)

    @tf.function(input_signature=(view, view), jit_compile=True if args.xla else None)
    def train_step(x1, x2):
        with tf.GradientTape() as tape:
            z1 = encoder(x1, training=True)
            z2 = encoder(x2, training=True)
            p1 = predictor(z1, training=True)
            p2 = predictor(z2, training=True)
            loss = 0.5 * (neg_cosine(p1, z2) + neg_cosine(p2, z1))
        variables = enc_vars + pred_vars
        grads = tape.gradient(loss, variables)
        grads = [g + weight_decay * v for g, v in zip(grads, variables)]
        opt.apply_gradients(zip(grads[:len(enc_vars)], enc_vars))
        opt_pred.apply_gradients(zip(grads[len(enc_vars):], pred_vars))
        return loss, z_std(z1)

    return train_step


# --------------------------------------------------------------------------
# Input pipeline
# --------------------------------------------------------------------------


def read_cifar_file(path, np):
    """A CIFAR-10 binary batch (label byte + 3072 planar RGB bytes per record)
    as a uint8 [N, 32, 32, 3] array."""
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size % 3073:
        raise ValueError(f"{path}: {raw.size} bytes is not a multiple of 3073")
    rec = raw.reshape(-1, 3073)
    return np.ascontiguousarray(rec[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))


def make_dataset(args, tf, images):
    size = args.image_size
    mean = tf.constant(CIFAR_MEAN, tf.float32)
    std = tf.constant(CIFAR_STD, tf.float32)

    def random_resized_crop(img):
        begin, crop_size, _ = tf.image.sample_distorted_bounding_box(
            tf.shape(img), bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
            min_object_covered=0.0, aspect_ratio_range=(3 / 4, 4 / 3), area_range=(0.2, 1.0),
            max_attempts=10, use_image_if_no_bounding_boxes=True)
        crop = tf.slice(img, begin, crop_size)
        return tf.image.resize(crop, (size, size), method="bilinear") / 255.0

    def color_jitter(x):
        # torchvision ColorJitter(0.4, 0.4, 0.4, 0.1): the four adjustments
        # in a random order.
        def brightness(x):
            return x * tf.random.uniform([], 0.6, 1.4)

        def contrast(x):
            return tf.image.adjust_contrast(x, tf.random.uniform([], 0.6, 1.4))

        def saturation(x):
            return tf.image.adjust_saturation(x, tf.random.uniform([], 0.6, 1.4))

        def hue(x):
            return tf.image.adjust_hue(x, tf.random.uniform([], -0.1, 0.1))

        order = tf.random.shuffle(tf.range(4))
        for i in range(4):
            x = tf.switch_case(order[i], [lambda f=f: f(x) for f in (brightness, contrast, saturation, hue)])
            x = tf.clip_by_value(x, 0.0, 1.0)
        return x

    def view(img):
        x = random_resized_crop(img)
        x = tf.cond(tf.random.uniform([]) < 0.8, lambda: color_jitter(x), lambda: x)
        x = tf.cond(tf.random.uniform([]) < 0.2,
                    lambda: tf.tile(tf.image.rgb_to_grayscale(x), [1, 1, 3]), lambda: x)
        x = tf.image.random_flip_left_right(x)
        return (x - mean) / std

    ds = tf.data.Dataset.from_tensor_slices(images)
    ds = ds.shuffle(len(images), seed=args.seed, reshuffle_each_iteration=True).repeat()
    ds = ds.map(lambda img: (view(img), view(img)), num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(args.batch, drop_remainder=True)
    return ds.prefetch(tf.data.AUTOTUNE)


# --------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------


def matmul_rate(tf, n, runs, blocks):
    a = tf.random.uniform((n, n), -1, 1, seed=3)
    b = tf.random.uniform((n, n), -1, 1, seed=4)
    mm = tf.function(lambda a, b: tf.linalg.matmul(a, b))
    for _ in range(2):
        mm(a, b)
    flops = 2.0 * n ** 3
    rates = []
    for _ in range(max(blocks, 1)):
        t = time.perf_counter()
        for _ in range(runs):
            c = mm(a, b)
        _ = c.shape  # eager execution is synchronous on CPU
        rates.append(flops * runs / (time.perf_counter() - t) / 1e9)
    return {"n": n, "runs_per_block": runs, "gflops": summarize(rates)}


def run_infer(args, tf, np, res, phases, since_launch):
    if not args.model:
        raise SystemExit("infer mode needs --model")
    batches = [int(b) for b in args.batches.split(",") if b] if args.batches else [args.batch]
    biggest = max(batches)
    if args.data:
        images = read_cifar_file(args.data, np)
        pix = images[np.arange(biggest) % len(images)]
    else:
        pix = np.random.default_rng(args.seed).integers(0, 256, size=(biggest, 32, 32, 3), dtype=np.uint8)
    t = time.perf_counter()
    loaded = tf.saved_model.load(args.model)
    embed = loaded.signatures["serving_default"]
    phases["load"] = time.perf_counter() - t

    def call(x):
        # As a user would: numpy in, numpy out.
        return embed(images=tf.constant(x))["embedding"].numpy()

    per_batch = []
    for k, b in enumerate(batches):
        x = pix[:b]
        t = time.perf_counter()
        emb = call(x)
        first = time.perf_counter() - t
        if k == 0:
            phases["first_call"] = first
            res["time_to_first_embedding_s"] = since_launch()
            res["embedding_dim"] = int(emb.shape[1])
        for _ in range(args.warmup):
            call(x)
        rates, calls = [], 0
        for _ in range(args.blocks):
            n = 0
            t = time.perf_counter()
            while n == 0 or time.perf_counter() - t < args.seconds:
                call(x)
                n += 1
            rates.append(n * b / (time.perf_counter() - t))
            calls += n
        per_batch.append({"batch": b, "images_per_sec": summarize(rates), "first_call_s": first,
                          "ms_per_call": 1e3 * b / statistics.median(rates), "calls": calls})
    res["per_batch"] = per_batch
    res["images_per_sec"] = per_batch[0]["images_per_sec"]


def onednn_enabled():
    """Whether TensorFlow runs its CPU kernels through oneDNN (None: unknown)."""
    try:
        from tensorflow.python.util import _pywrap_util_port
        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        return None


def main(argv=None):
    args = parse_args(argv)
    launch_ns = T_MAIN_NS
    from_driver = False
    if os.environ.get("BENCH_LAUNCH_NS"):
        launch_ns, from_driver = int(os.environ["BENCH_LAUNCH_NS"]), True

    def since_launch():
        return (time.time_ns() - launch_ns) / 1e9

    phases = {"launch_to_main": (T_MAIN_NS - launch_ns) / 1e9}
    t = time.perf_counter()
    import numpy as np
    import tensorflow as tf
    import keras
    phases["import_tensorflow"] = time.perf_counter() - t
    if args.intra:
        tf.config.threading.set_intra_op_parallelism_threads(args.intra)
    if args.inter:
        tf.config.threading.set_inter_op_parallelism_threads(args.inter)
    if args.precision == "mixed_bfloat16":
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    elif args.precision == "grappler_bf16":
        tf.config.optimizer.set_experimental_options({"auto_mixed_precision_onednn_bfloat16": True})

    res = {
        "impl": "python", "mode": args.mode, "label": args.label,
        "settings": {
            "batch": args.batch, "width": args.width, "arch": args.arch, "stem": "cifar",
            "image_size": args.image_size, "proj_dim": args.proj_dim, "proj_hidden": args.proj_hidden,
            "proj_layers": args.proj_layers, "pred_hidden": args.pred_hidden,
            "warmup": args.warmup, "steps": args.steps, "blocks": args.blocks, "xla": args.xla,
            "precision": args.precision,
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
            "augment": "tf.data map per image: sample_distorted_bounding_box crop 0.2-1 + resize, "
                       "jitter p0.8 (random order), grey p0.2, flip, no blur",
            "prefetch": "AUTOTUNE",
        },
        "env": {"tf_version": tf.__version__, "keras_version": keras.__version__,
                "python_version": sys.version.split()[0], "num_cpu": os.cpu_count(),
                "onednn": onednn_enabled(), "tf_enable_onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS")},
        "phases_s": phases,
        "launch_from_driver": from_driver,
    }
    tf.random.set_seed(args.seed)
    if args.mode == "infer":
        run_infer(args, tf, np, res, phases, since_launch)
        res["rss_self_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps(res), flush=True)
        return

    images = None
    if args.mode == "e2e":
        if not args.data:
            raise SystemExit("e2e mode needs --data (a CIFAR-10-format binary file)")
        t = time.perf_counter()
        images = read_cifar_file(args.data, np)
        phases["data_read"] = time.perf_counter() - t
        res["data"] = {"path": args.data, "images": int(images.shape[0]), "shape": list(images.shape[1:])}

    t = time.perf_counter()
    encoder, predictor = build_network(args, keras)
    train_step = make_train_step(args, tf, keras, encoder, predictor)
    phases["graph_build"] = time.perf_counter() - t
    res["network"] = count_network(encoder, predictor, keras)

    batches = [int(b) for b in args.batches.split(",") if b] if args.batches else [args.batch]
    if args.mode == "e2e" and batches != [args.batch]:
        raise SystemExit("--batches is for graph mode")
    acc = {"data": 0.0, "graph": 0.0, "steps": 0}
    per_batch = []
    it = None
    for k, batch in enumerate(batches):
        if args.mode == "graph":
            x1 = tf.random.normal((batch, args.image_size, args.image_size, 3), seed=1)
            x2 = tf.random.normal((batch, args.image_size, args.image_size, 3), seed=2)

            def one(acc=None):
                t = time.perf_counter()
                loss, _ = train_step(x1, x2)
                loss = float(loss.numpy())
                if acc is not None:
                    acc["graph"] += time.perf_counter() - t
                    acc["steps"] += 1
                return loss
        else:
            t = time.perf_counter()
            ds = make_dataset(args, tf, images)
            it = iter(ds)
            phases["dataset_build"] = time.perf_counter() - t

            def one(acc=None):
                t0 = time.perf_counter()
                x1, x2 = next(it)
                t1 = time.perf_counter()
                loss, _ = train_step(x1, x2)
                loss = float(loss.numpy())
                if acc is not None:
                    acc["data"] += t1 - t0
                    acc["graph"] += time.perf_counter() - t1
                    acc["steps"] += 1
                return loss

        t = time.perf_counter()
        first = one()
        if k == 0:
            res["loss_first"] = first
            phases["first_step"] = time.perf_counter() - t
            res["time_to_first_step_s"] = since_launch()
        for _ in range(args.warmup):
            one()
        rates = []
        for _ in range(args.blocks):
            t = time.perf_counter()
            for _ in range(args.steps):
                loss = one(acc if k == 0 else None)
            rates.append(batch * args.steps / (time.perf_counter() - t))
        per_batch.append({
            "batch": batch, "images_per_sec": summarize(rates), "loss_last": loss,
            "achieved_gflops": statistics.median(rates) * res["network"]["train_flops_per_image"] / 1e9,
        })
    res["loss_last"] = per_batch[0]["loss_last"]
    res["images_per_sec"] = per_batch[0]["images_per_sec"]
    res["achieved_gflops"] = per_batch[0]["achieved_gflops"]
    if args.batches:
        res["per_batch"] = per_batch
    n = acc["steps"]
    total = acc["data"] + acc["graph"]
    res["step_breakdown"] = {
        "batch": batches[0], "steps": n,
        "data_ms": acc["data"] * 1e3 / n, "graph_ms": acc["graph"] * 1e3 / n, "total_ms": total * 1e3 / n,
        "share": {"data": acc["data"] / total, "graph": acc["graph"] / total},
        "notes": "data = waiting in next(iterator) of the prefetched tf.data pipeline; "
                 "graph = tf.function train step incl. reading the loss",
    }
    if args.mode == "e2e" and args.pipeline_probe:
        k = max(args.steps, 3)
        t = time.perf_counter()
        for _ in range(k):
            x1, _ = next(it)
        _ = x1.shape
        res["step_breakdown"]["pipeline_alone_ms"] = (time.perf_counter() - t) * 1e3 / k
    if args.matmul:
        res["matmul"] = matmul_rate(tf, args.matmul, args.matmul_runs, args.blocks)
    res["rss_self_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
