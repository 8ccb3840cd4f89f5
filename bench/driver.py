"""Runs the Go vs Python SimSiam benchmark and writes the results.

Started by bench/run.sh (which builds bench/gobench and sets up the
environment). Every measurement is one child process, bench/.build/gobench or
bench/pybench.py, that prints one JSON line. Rounds interleave the two
implementations (Go, Python, Go, Python, ...; odd rounds in reverse order),
and each child is reaped with os.wait4 so its own peak RSS and CPU time are
known. The CPU time the rest of the machine used while a child ran is
recorded too ("foreign load"), so numbers taken on a busy machine say so.

Outputs: results.json (every raw record plus summaries), results.md (tables
for the README) and the batch-size scaling plot.
"""

import argparse
import datetime
import json
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
XLA_CPU_FLAG = "--tf_xla_cpu_global_jit"
# TensorFlow reads this while it loads: "1" runs its CPU kernels through
# oneDNN, "0" through Eigen, unset leaves TF's default (oneDNN only on CPUs
# with AVX512-VNNI, AVX512-BF16, AVX-VNNI or AMX). The Go runner's default
# (runtime.onednn: true) is "1"; Python as a user runs it leaves it unset.
ONEDNN_ENV = "TF_ENABLE_ONEDNN_OPTS"
XLA_COMPILED_MARK = "Compiled cluster using XLA"


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="tiny network and batches, 1 round: a smoke test (< ~3 min)")
    ap.add_argument("--batch", type=int, help="batch size of the main comparison (default 64; tiny 16)")
    ap.add_argument("--width", type=int, help="ResNet width (default 64 = ResNet-18; tiny 8)")
    ap.add_argument("--reps", type=int, help="interleaved rounds, one process per configuration each (default 3; tiny 1)")
    ap.add_argument("--steps", type=int, help="timed steps per block (default 5; tiny 3)")
    ap.add_argument("--blocks", type=int, help="timed blocks per process (default 2)")
    ap.add_argument("--warmup", type=int, help="untimed steps after the first (default 2; tiny 1)")
    ap.add_argument("--scaling", help="batch sizes of the scaling plot, comma-separated "
                    "(default 32,64,128,256; tiny 8,16,32; empty string = skip)")
    ap.add_argument("--scaling-steps", type=int, help="timed steps per block in the scaling runs (default 3; tiny 2)")
    ap.add_argument("--scaling-in-main", type=int, choices=(0, 1),
                    help="1: measure the scaling batches inside the main step-only processes (after the main batch) "
                    "instead of separate processes; their peak RSS then covers the largest batch (default 0; tiny 1)")
    ap.add_argument("--infer-seconds", type=float, help="minimum length of one timed inference block (default 2; tiny 0.3)")
    ap.add_argument("--images", type=int, help="images in the synthetic CIFAR-10 file (default 10000; tiny 512)")
    ap.add_argument("--matmul", type=int, help="side of the reference MatMul (default 2048; tiny 1024)")
    ap.add_argument("--py-xla", action="store_true", help="also run the Python step with tf.function(jit_compile=True)")
    ap.add_argument("--skip", default="", help="comma-separated configuration names to leave out")
    ap.add_argument("--out", default=HERE, help="directory for results.json and results.md (default bench/)")
    ap.add_argument("--plot", help="scaling plot path (default docs/batch_scaling.png; tiny bench/.build/batch_scaling_tiny.png)")
    ap.add_argument("--note", default="", help="free text copied to the results (e.g. machine description)")
    ap.add_argument("--gobench", default=os.path.join(HERE, ".build", "gobench"), help="built bench/gobench binary")
    ap.add_argument("--goinfer", default=os.path.join(HERE, ".build", "goinfer"),
                    help="built bench/goinfer binary ('' or missing: no inference benchmark)")
    ap.add_argument("--python", default=sys.executable, help="python with tensorflow for bench/pybench.py")
    ap.add_argument("--render", metavar="RESULTS_JSON",
                    help="only rewrite results.md (next to it) and the plot from an existing results.json")
    ap.add_argument("--timeout", type=float, help="seconds before a child is killed (default 3600; tiny 300)")
    args = ap.parse_args(argv)
    tiny = args.tiny
    defaults = {
        "batch": 16 if tiny else 64, "width": 8 if tiny else 64, "reps": 1 if tiny else 3,
        "steps": 3 if tiny else 5, "blocks": 2, "warmup": 1 if tiny else 2,
        "scaling": "8,16,32" if tiny else "32,64,128,256", "scaling_steps": 2 if tiny else 3,
        "scaling_in_main": 1 if tiny else 0, "infer_seconds": 0.3 if tiny else 2.0,
        "images": 512 if tiny else 10000, "matmul": 1024 if tiny else 2048,
        "plot": os.path.join(HERE, ".build", "batch_scaling_tiny.png") if tiny else os.path.join(ROOT, "docs", "batch_scaling.png"),
        "timeout": 300.0 if tiny else 3600.0,
    }
    for k, v in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    args.scaling_batches = [int(b) for b in args.scaling.split(",") if b.strip()]
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    return args


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------


def make_cifar_file(path, n, seed=0):
    """Writes n synthetic CIFAR-10 records (label byte + 3072 bytes of R, G
    and B planes). The images are smooth colour fields plus noise, so that
    the augmentation works on image-like content; the benchmark cost does not
    depend on it."""
    import numpy as np

    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, size=(n, 3, 4, 4)).astype(np.float32)
    planes = coarse.repeat(8, axis=2).repeat(8, axis=3)  # 4x4 -> 32x32 blocks
    planes += rng.normal(0, 24, size=planes.shape)
    rec = np.empty((n, 3073), np.uint8)
    rec[:, 0] = rng.integers(0, 10, size=n)
    rec[:, 1:] = np.clip(planes, 0, 255).astype(np.uint8).reshape(n, 3072)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rec.tofile(path)
    return path


# --------------------------------------------------------------------------
# Child processes
# --------------------------------------------------------------------------


def cpu_busy_seconds():
    """Busy CPU seconds of the whole machine since boot (/proc/stat)."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()[1:]
    except OSError:
        return None
    v = [int(x) for x in fields]
    # user nice system idle iowait irq softirq steal (guest is inside user)
    busy = v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)
    return busy / os.sysconf("SC_CLK_TCK")


VECTOR_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx_vnni",
                "amx_tile", "amx_bf16", "amx_int8")


def cpu_model_and_flags():
    """The CPU model name and its vector flags (those TensorFlow's kernels use), from /proc/cpuinfo."""
    model, flags = "", []
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, val = line.partition(":")
                key = key.strip()
                if key == "model name" and not model:
                    model = val.strip()
                elif key == "flags" and not flags:
                    have = set(val.split())
                    flags = [v for v in VECTOR_FLAGS if v in have]
    except OSError:
        pass
    return {"cpu_model": model, "cpu_flags": flags, "bf16_hardware": any(f in flags for f in ("amx_bf16", "avx512_bf16"))}


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return [float(x) for x in f.read().split()[:3]]
    except OSError:
        return None


def run_child(cmd, env_extra, log_path, timeout):
    """Runs cmd, returns (record, meta). The record is the child's JSON line
    (or None); meta has the child's peak RSS and CPU time from wait4."""
    env = dict(os.environ)
    # Only the configurations that ask for XLA get the CPU JIT flag, and TF
    # logs at INFO so that the "Compiled cluster using XLA" line shows.
    env.pop("TF_XLA_FLAGS", None)
    # Likewise TF_ENABLE_ONEDNN_OPTS: unset means TensorFlow's own default.
    env.pop(ONEDNN_ENV, None)
    env["TF_CPP_MIN_LOG_LEVEL"] = "0"
    env.update(env_extra)
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    busy0 = cpu_busy_seconds()
    t0 = time.perf_counter()
    env["BENCH_LAUNCH_NS"] = str(time.time_ns())
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, env=env, cwd=ROOT)
        timed_out = threading.Event()

        def kill():
            timed_out.set()
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        out = proc.stdout.read().decode(errors="replace")
        proc.stdout.close()
        _, status, ru = os.wait4(proc.pid, 0)
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    busy1 = cpu_busy_seconds()
    child_cpu = ru.ru_utime + ru.ru_stime
    meta = {
        "cmd": cmd, "env": env_extra, "exit_code": proc.returncode, "timed_out": timed_out.is_set(),
        "wall_s": wall, "peak_rss_mib": ru.ru_maxrss / 1024.0, "cpu_s": child_cpu,
        "cores_used": child_cpu / wall if wall > 0 else None, "log": os.path.relpath(log_path, ROOT),
    }
    if busy0 is not None and busy1 is not None and wall > 0:
        # CPU seconds other processes used per second of this run, in cores.
        meta["foreign_load_cores"] = max(0.0, (busy1 - busy0 - child_cpu) / wall)
    with open(log_path, errors="replace") as f:
        meta["xla_compiled"] = XLA_COMPILED_MARK in f.read()
    record = None
    for line in reversed(out.strip().splitlines()):
        if line.startswith("{"):
            try:
                record = json.loads(line)
            except ValueError:
                pass
            break
    return record, meta


# --------------------------------------------------------------------------
# Configurations
# --------------------------------------------------------------------------


def configurations(args, data_path, infer_model):
    """(name, argv, extra environment) of every child of one round, Go and
    Python alternating."""
    common = ["--width", str(args.width), "--warmup", str(args.warmup), "--blocks", str(args.blocks)]
    main = common + ["--batch", str(args.batch), "--steps", str(args.steps)]
    go = [args.gobench]
    py = [args.python, os.path.join(HERE, "pybench.py")]
    # Go's flag package takes --name like -name, so both sides get one argv.
    xla_env = {"TF_XLA_FLAGS": XLA_CPU_FLAG}
    mm = ["--matmul", str(args.matmul)]
    data = ["--data", data_path]
    graph_extra = []
    if args.scaling_batches and args.scaling_in_main:
        # The main batch first (its numbers are the main result), then the
        # other scaling batches in the same process.
        rest = [b for b in args.scaling_batches if b != args.batch]
        graph_extra = ["--batches", ",".join(map(str, [args.batch] + rest))]

    def conf(name, cmd, env=None):
        return (name, cmd + ["--label", name], env or {})

    # Go children run as the simsiam CLI does by default (oneDNN on); the
    # *_eigen ones turn it off, the Python *_onednn ones turn it on, so both
    # kernel libraries are compared like for like.
    dnn, eigen = {ONEDNN_ENV: "1"}, {ONEDNN_ENV: "0"}
    confs = [
        conf("go_graph", go + main + ["--mode", "graph"] + mm + graph_extra, dnn),
        conf("py_graph", py + main + ["--mode", "graph"] + mm + graph_extra),
        conf("go_e2e", go + main + ["--mode", "e2e"] + data, dnn),
        conf("py_e2e", py + main + ["--mode", "e2e"] + data),
        conf("go_graph_eigen", go + main + ["--mode", "graph"], eigen),
        conf("py_graph_onednn", py + main + ["--mode", "graph"], dnn),
        conf("go_graph_xla", go + main + ["--mode", "graph", "--xla"] + mm, {**xla_env, **dnn}),
    ]
    if not args.tiny:
        confs += [
            conf("go_e2e_eigen", go + main + ["--mode", "e2e"] + data, eigen),
            conf("py_e2e_onednn", py + main + ["--mode", "e2e"] + data, dnn),
            conf("go_e2e_xla", go + main + ["--mode", "e2e", "--xla"] + data, {**xla_env, **dnn}),
        ]
    # Mixed precision (bfloat16). On CPUs without AMX-BF16 or AVX512-BF16 the
    # bfloat16 kernels are emulated (Eigen), so these are slower than fp32
    # there; results.md labels them with the CPU's flags.
    # Its MatMul probe runs in bfloat16: the ceiling of a bf16 step.
    confs.append(conf("go_graph_bf16", go + main + ["--mode", "graph", "--precision", "bf16"] + mm, dnn))
    confs.append(conf("py_graph_mixed_bf16", py + main + ["--mode", "graph", "--precision", "mixed_bfloat16"], dnn))
    confs.append(conf("py_graph_grappler_bf16", py + main + ["--mode", "graph", "--precision", "grappler_bf16"], dnn))
    confs.append(conf("go_graph_t2x1", go + main + ["--mode", "graph", "--intra", "2", "--inter", "1"], dnn))
    if not args.tiny:
        confs += [
            conf("go_e2e_t2x1", go + main + ["--mode", "e2e", "--intra", "2", "--inter", "1"] + data, dnn),
            # SessionOptions.XLA without TF_XLA_FLAGS: whether the config
            # alone turns the CPU JIT on.
            conf("go_graph_xla_configonly", go + main + ["--mode", "graph", "--xla"], {"TF_XLA_FLAGS": "", **dnn}),
        ]
    if args.py_xla:
        confs.append(conf("py_graph_xla", py + main + ["--mode", "graph", "--xla"]))
    if args.scaling_batches and not args.scaling_in_main:
        sc = common[:]
        sc[sc.index("--warmup") + 1] = "1"
        sc += ["--batch", str(args.scaling_batches[0]), "--steps", str(args.scaling_steps),
               "--batches", ",".join(map(str, args.scaling_batches)), "--mode", "graph"]
        confs += [conf("go_scaling", go + sc, dnn), conf("py_scaling", py + sc),
                  conf("py_scaling_onednn", py + sc, dnn)]
    if infer_model:
        inf = ["--width", str(args.width), "--warmup", str(args.warmup), "--blocks", str(args.blocks),
               "--mode", "infer", "--model", infer_model, "--batches", "1,64",
               "--seconds", str(args.infer_seconds)] + data
        # Inference keeps TF's default kernels on both sides, as serve and
        # simsiam embed/predict do: oneDNN made batch-1 calls 6x slower.
        confs += [conf("go_infer", [args.goinfer] + inf), conf("py_infer", py + inf)]
    return [c for c in confs if c[0] not in args.skip]


# --------------------------------------------------------------------------
# Summaries
# --------------------------------------------------------------------------


def spread(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def summarize_runs(runs):
    ok = [r for r in runs if r["record"] and "error" not in r["record"] and r["meta"]["exit_code"] == 0]
    s = {"runs": len(runs), "ok": len(ok)}
    if not ok:
        s["errors"] = [(r["record"] or {}).get("error") or f"exit {r['meta']['exit_code']}, see {r['meta']['log']}"
                       for r in runs]
        return s
    blocks = [v for r in ok for v in r["record"]["images_per_sec"]["values"]]
    s["images_per_sec"] = spread(blocks)
    s["images_per_sec"]["round_medians"] = [r["record"]["images_per_sec"]["median"] for r in ok]
    s["achieved_gflops"] = spread([r["record"].get("achieved_gflops") for r in ok])
    s["peak_rss_mib"] = spread([r["meta"]["peak_rss_mib"] for r in ok])
    s["time_to_first_step_s"] = spread([r["record"].get("time_to_first_step_s") for r in ok])
    s["time_to_first_embedding_s"] = spread([r["record"].get("time_to_first_embedding_s") for r in ok])
    s["cores_used"] = spread([r["meta"].get("cores_used") for r in ok])
    s["foreign_load_cores"] = spread([r["meta"].get("foreign_load_cores") for r in ok])
    s["xla_compiled"] = [r["meta"]["xla_compiled"] for r in ok]
    phases = {}
    for r in ok:
        for k, v in r["record"].get("phases_s", {}).items():
            phases.setdefault(k, []).append(v)
    s["phases_s"] = {k: statistics.median(v) for k, v in phases.items()}
    mm = [v for r in ok if r["record"].get("matmul") for v in r["record"]["matmul"]["gflops"]["values"]]
    if mm:
        s["matmul_gflops"] = spread(mm)
        s["matmul_n"] = ok[0]["record"]["matmul"]["n"]
        s["matmul_dtype"] = ok[0]["record"]["matmul"].get("dtype", "float32")
        s["fraction_of_matmul"] = s["achieved_gflops"]["median"] / s["matmul_gflops"]["median"]
    bd = [r["record"]["step_breakdown"] for r in ok if r["record"].get("step_breakdown")]
    if bd:
        keys = [k for k, v in bd[0].items() if isinstance(v, (int, float)) and k != "steps"]
        s["step_breakdown_ms"] = {k: statistics.median(b[k] for b in bd if k in b) for k in keys}
        s["step_breakdown_share"] = {k: statistics.median(b["share"][k] for b in bd) for k in bd[0]["share"]}
    per_batch = {}
    for r in ok:
        for e in r["record"].get("per_batch", []):
            per_batch.setdefault(e["batch"], []).extend(e["images_per_sec"]["values"])
    if per_batch:
        s["per_batch"] = {b: spread(v) for b, v in sorted(per_batch.items())}
    s["network"] = ok[0]["record"].get("network")
    s["settings"] = ok[0]["record"].get("settings")
    s["env"] = ok[0]["record"].get("env")
    return s


# --------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------


def fmt(x, digits=1):
    if x is None:
        return "–"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}f}"


def med_range(s, digits=1):
    if not s:
        return "–"
    if s["n"] == 1:
        return fmt(s["median"], digits)
    return f"{fmt(s['median'], digits)} [{fmt(s['min'], digits)}–{fmt(s['max'], digits)}]"


def ratio(a, b):
    if not a or not b or not b.get("median"):
        return None
    return a["median"] / b["median"]


def times(r):
    """A ratio as "1.44×", or "–" when there is none."""
    return fmt(r, 2) + "×" if r else "–"


def write_markdown(path, res):
    m = res["meta"]
    S = res["summaries"]
    g = lambda name, key: (S.get(name) or {}).get(key)  # noqa: E731
    L = []
    L.append("# Go vs Python (Keras) SimSiam training benchmark")
    L.append("")
    shown, skip = [], False
    for a in m["argv"]:  # the note is printed below, not in the command
        if skip or a == "--note":
            skip = not skip and a == "--note"
            continue
        if not a.startswith("--note="):
            shown.append(a)
    L.append(f"Generated by `{shlex.join(['bench/run.sh'] + shown)}` on {m['started']} "
             f"({m['host']['cpus']} CPUs, {m['host']['machine']}, TensorFlow {m.get('tf_version', '?')}).")
    if m["host"].get("cpu_model"):
        L.append("")
        L.append(f"CPU: {m['host']['cpu_model']}; vector flags: {' '.join(m['host'].get('cpu_flags') or []) or 'none'}.")
    if m["tiny"]:
        L.append("")
        L.append("**Tiny smoke-test settings: these numbers only show that the harness works.**")
    if m["under_load"]:
        L.append("")
        L.append(f"**Measured under load**: other processes used a median of "
                 f"{m['foreign_load_cores']['median']:.2f} cores (max {m['foreign_load_cores']['max']:.2f}) "
                 f"of {m['host']['cpus']} while the benchmark ran; treat the numbers as noisy.")
    if m["note"]:
        L.append("")
        L.append(m["note"])
    net = (S.get("go_graph") or {}).get("network") or (S.get("py_graph") or {}).get("network") or {}
    L.append("")
    L.append(f"Network: ResNet-18 (CIFAR stem, width {m['width']}), projector "
             f"{m['proj']}, predictor {m['pred']}; 32x32x3 inputs; batch {m['batch']}; "
             f"{net.get('trainable_params', 0):,} trainable parameters "
             f"(Go and Python count {'the same' if m['networks_match'] else 'DIFFERENT numbers'}). "
             f"{m['reps']} interleaved round(s) × {m['blocks']} blocks × {m['steps']} steps after "
             f"{m['warmup']} warm-up step(s); median [min–max] over all blocks.")
    L.append("")
    L.append("| | Go (as shipped: oneDNN on) | Go + XLA | Python (Keras, tf.function, tf.data; TF defaults) | Go / Python |")
    L.append("| --- | ---: | ---: | ---: | ---: |")
    rows = [
        ("train step, inputs in memory (images/s)", "go_graph", "go_graph_xla", "py_graph", "images_per_sec", 1),
        ("end to end: read + augment + step (images/s)", "go_e2e", "go_e2e_xla", "py_e2e", "images_per_sec", 1),
        ("peak RSS, step only (MiB)", "go_graph", "go_graph_xla", "py_graph", "peak_rss_mib", 0),
        ("peak RSS, end to end (MiB)", "go_e2e", "go_e2e_xla", "py_e2e", "peak_rss_mib", 0),
        ("process start → first step done, step only (s)", "go_graph", "go_graph_xla", "py_graph", "time_to_first_step_s", 1),
        ("process start → first step done, end to end (s)", "go_e2e", "go_e2e_xla", "py_e2e", "time_to_first_step_s", 1),
        ("achieved train-step GFLOP/s (inputs in memory)", "go_graph", "go_graph_xla", "py_graph", "achieved_gflops", 1),
    ]
    for label, a, b, c, key, d in rows:
        r = ratio(g(a, key), g(c, key))
        L.append(f"| {label} | {med_range(g(a, key), d)} | {med_range(g(b, key), d)} | "
                 f"{med_range(g(c, key), d)} | {times(r)} |")
    mmg, mmp = g("go_graph", "matmul_gflops"), g("py_graph", "matmul_gflops")
    n = g("go_graph", "matmul_n") or g("py_graph", "matmul_n")
    L.append(f"| MatMul {n}×{n} float32, same process (GFLOP/s) | {med_range(mmg)} | | {med_range(mmp)} | "
             f"{times(ratio(mmg, mmp))} |")
    fg, fp = g("go_graph", "fraction_of_matmul"), g("py_graph", "fraction_of_matmul")
    L.append(f"| train step FLOP rate / MatMul rate | {fmt(100 * fg if fg else None, 0)}% | | "
             f"{fmt(100 * fp if fp else None, 0)}% | |")
    L.append("")
    if net:
        L.append(f"FLOPs are counted analytically (convolutions and matrix products, 2 per multiply-add; "
                 f"BN, ReLU, pooling and the loss left out): {net['fwd_flops_per_image'] / 1e6:,.1f} MFLOP "
                 f"forward per image (backbone {net['fwd_flops_backbone'] / 1e6:,.1f}, projector "
                 f"{net['fwd_flops_projector'] / 1e6:,.1f}, predictor {net['fwd_flops_predictor'] / 1e6:,.1f}); "
                 f"a train step costs 3 × forward × 2 views = {net['train_flops_per_image'] / 1e9:.3f} GFLOP per image.")
        L.append("")

    # Time to the first step, by phase.
    phase_rows = [n for n in ("go_graph", "py_graph", "go_e2e", "py_e2e", "go_graph_xla", "py_graph_xla")
                  if g(n, "phases_s")]
    if phase_rows:
        cols = ["launch_to_main", "import_tensorflow", "data_read", "graph_build", "session_start_and_init",
                "dataset_build", "first_step"]
        L.append("### Process start → first step done, by phase (s, median)")
        L.append("")
        L.append("| | " + " | ".join(c.replace("_", " ") for c in cols) + " | total |")
        L.append("| --- |" + " ---: |" * (len(cols) + 1))
        for n in phase_rows:
            ph = g(n, "phases_s")
            L.append(f"| {n} | " + " | ".join(fmt(ph.get(c), 2) for c in cols) +
                     f" | {fmt(g(n, 'time_to_first_step_s')['median'], 1)} |")
        L.append("")
        L.append("Measured from the moment the driver starts the process. launch to main = exec, dynamic "
                 "loading of libtensorflow (Go) or interpreter start (Python); Go has no import phase and builds "
                 "the graph with the C API; Python's graph build is the Keras model and optimizers, and its first "
                 "step includes tracing the `tf.function`; both first steps include Grappler (and XLA compilation "
                 "when on).")
        L.append("")

    # Go step breakdown.
    L.append("### Where an end-to-end step goes (Go timers, ms per step)")
    L.append("")
    L.append("| | data (wait) | feed copy | graph run | total | batch assembly alone | augmentation alone |")
    L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in ("go_e2e", "go_e2e_xla", "go_e2e_t2x1"):
        b = g(name, "step_breakdown_ms")
        sh = g(name, "step_breakdown_share")
        if not b:
            continue
        L.append(f"| {name} | {fmt(b['data_ms'], 2)} ({100 * sh['data']:.1f}%) | {fmt(b['feed_ms'], 2)} "
                 f"({100 * sh['feed']:.1f}%) | {fmt(b['graph_ms'])} ({100 * sh['graph']:.1f}%) | "
                 f"{fmt(b['total_ms'])} | {fmt(b.get('assemble_ms'), 3)} | {fmt(b.get('augment_alone_ms'), 1)} |")
    pb = g("py_e2e", "step_breakdown_ms")
    if pb:
        psh = g("py_e2e", "step_breakdown_share")
        L.append(f"| py_e2e (for comparison) | {fmt(pb['data_ms'], 2)} ({100 * psh['data']:.1f}%) | – | "
                 f"{fmt(pb['graph_ms'])} ({100 * psh['graph']:.1f}%) | {fmt(pb['total_ms'])} | – | "
                 f"{fmt(pb.get('pipeline_alone_ms'), 1)} (tf.data alone) |")
    L.append("")
    L.append("data = time blocked in `Prefetcher.Next` (batches are assembled ahead on a goroutine; "
             "\"batch assembly alone\" is that work timed synchronously); feed = `Pipeline.Feeds` "
             "(copy of the uint8 batch into a TF tensor); graph = `Session.Run` of in-graph augmentation + "
             "step; \"augmentation alone\" = the same augmentation ops in a graph of their own. "
             "Python: data = `next()` on the prefetched `tf.data` iterator, graph = the `tf.function` call.")
    L.append("")

    # Kernel library.
    if any(S.get(n) for n in ("go_graph_eigen", "py_graph_onednn", "go_e2e_eigen", "py_e2e_onednn")):
        L.append("### Kernel library: oneDNN vs Eigen (like for like)")
        L.append("")
        L.append("| | Go | Python | Go / Python | oneDNN on (Go / Python, as reported by TF) |")
        L.append("| --- | ---: | ---: | ---: | :---: |")
        eigen_env = "TF_ENABLE_ONEDNN_OPTS=0 (Go) / unset (Python)"
        for label, a, c in (("train step, oneDNN (TF_ENABLE_ONEDNN_OPTS=1)", "go_graph", "py_graph_onednn"),
                            (f"train step, {eigen_env}", "go_graph_eigen", "py_graph"),
                            ("end to end, oneDNN", "go_e2e", "py_e2e_onednn"),
                            (f"end to end, {eigen_env}", "go_e2e_eigen", "py_e2e")):
            if not S.get(a) and not S.get(c):
                continue
            r = ratio(g(a, "images_per_sec"), g(c, "images_per_sec"))
            L.append(f"| {label} (images/s) | {med_range(g(a, 'images_per_sec'))} | "
                     f"{med_range(g(c, 'images_per_sec'))} | {times(r)} | "
                     f"{onednn_state(S, a)} / {onednn_state(S, c)} |")
        L.append("")
        L.append("TensorFlow leaves oneDNN off by default on CPUs without AVX512-VNNI, AVX512-BF16, AVX-VNNI "
                 "or AMX; the Go runner turns it on (`runtime.onednn: true`). A Python user gets the same "
                 "kernels by exporting TF_ENABLE_ONEDNN_OPTS=1 before starting Python.")
        L.append("")

    # Mixed precision.
    if any(S.get(n) for n in ("go_graph_bf16", "py_graph_mixed_bf16", "py_graph_grappler_bf16")):
        hw = m["host"].get("bf16_hardware")
        L.append("### Mixed precision: bfloat16 (train step, inputs in memory, oneDNN on)")
        L.append("")
        if not hw:
            L.append("**This CPU has neither AMX-BF16 nor AVX512-BF16: TensorFlow runs the bfloat16 kernels "
                     "emulated (Eigen), so these rows measure the emulation, not bfloat16 hardware.**")
            L.append("")
        L.append("| configuration | images/s | vs the same side's fp32 (oneDNN) |")
        L.append("| --- | ---: | ---: |")
        for label, a, base in (("Go fp32 (`runtime.precision: fp32`)", "go_graph", "go_graph"),
                               ("Go bf16 (`runtime.precision: bf16`: grappler auto_mixed_precision_onednn_bfloat16)", "go_graph_bf16", "go_graph"),
                               ("Python fp32, oneDNN", "py_graph_onednn", "py_graph_onednn"),
                               ("Python Keras `mixed_bfloat16` policy", "py_graph_mixed_bf16", "py_graph_onednn"),
                               ("Python fp32 model + the grappler bf16 rewrite", "py_graph_grappler_bf16", "py_graph_onednn")):
            if not S.get(a):
                continue
            L.append(f"| {label}{'' if hw or a in ('go_graph', 'py_graph_onednn') else ' (emulated)'} | "
                     f"{med_range(g(a, 'images_per_sec'))} | {times(ratio(g(a, 'images_per_sec'), g(base, 'images_per_sec')))} |")
        L.append("")
        for a, name in (("go_graph", "Go fp32"), ("go_graph_bf16", "Go bf16")):
            if g(a, "fraction_of_matmul") is None:
                continue
            L.append(f"- {name}: train step {fmt(g(a, 'achieved_gflops')['median'], 1)} GFLOP/s = "
                     f"{fmt(100 * g(a, 'fraction_of_matmul'), 0)}% of a {g(a, 'matmul_n')}² {g(a, 'matmul_dtype')} "
                     f"MatMul in the same process ({med_range(g(a, 'matmul_gflops'))} GFLOP/s), the ceiling of its arithmetic"
                     f"{'' if hw or a == 'go_graph' else ' (emulated)'}.")
        L.append("")

    # Threads and XLA.
    L.append("### Go session options")
    L.append("")
    L.append("| configuration | step only (images/s) | end to end (images/s) | XLA clusters compiled | cores used |")
    L.append("| --- | ---: | ---: | :---: | ---: |")
    variants = [("TF defaults (intra/inter 0)", "go_graph", "go_e2e"),
                ("XLA (SessionOptions.XLA + TF_XLA_FLAGS=--tf_xla_cpu_global_jit)", "go_graph_xla", "go_e2e_xla"),
                ("SessionOptions.XLA only", "go_graph_xla_configonly", None),
                ("intra_op 2 / inter_op 1", "go_graph_t2x1", "go_e2e_t2x1")]
    for label, a, b in variants:
        if not S.get(a) and not (b and S.get(b)):
            continue
        comp = (g(a, "xla_compiled") or []) + ((g(b, "xla_compiled") or []) if b else [])
        L.append(f"| {label} | {med_range(g(a, 'images_per_sec'))} | "
                 f"{med_range(g(b, 'images_per_sec')) if b else '–'} | {'yes' if any(comp) else 'no'} | "
                 f"{med_range(g(a, 'cores_used'), 2)} |")
    if S.get("py_graph_xla"):
        L.append(f"| Python tf.function(jit_compile=True) | {med_range(g('py_graph_xla', 'images_per_sec'))} | – | "
                 f"{'yes' if any(g('py_graph_xla', 'xla_compiled') or []) else 'n/a'} | "
                 f"{med_range(g('py_graph_xla', 'cores_used'), 2)} |")
    L.append("")
    L.append(f"Threads: both sides leave TensorFlow's defaults (0 = one thread per core, {m['host']['cpus']} here) "
             "unless a row says otherwise.")
    L.append("")

    # Scaling.
    gs, ps = scaling_source(S, "go"), scaling_source(S, "py")
    pd = (S.get("py_scaling_onednn") or {}).get("per_batch") or {}
    if gs or ps:
        L.append("### Batch-size scaling (train step, inputs in memory, images/s)")
        L.append("")
        L.append("| batch | Go (oneDNN) | Python (TF defaults) | Go / Python | Python, oneDNN | Go / Python, oneDNN |")
        L.append("| ---: | ---: | ---: | ---: | ---: | ---: |")
        for b in sorted(set((gs or {}).keys()) | set((ps or {}).keys())):
            a, c, d = (gs or {}).get(b), (ps or {}).get(b), pd.get(b)
            r, rd = ratio(a, c), ratio(a, d)
            L.append(f"| {b} | {med_range(a)} | {med_range(c)} | {times(r)} | "
                     f"{med_range(d)} | {times(rd)} |")
        L.append("")
        if m.get("plot"):
            L.append(f"Plot: `{m['plot']}`.")
            L.append("")

    # Inference.
    L.append("### Inference: SavedModel embeddings/s")
    L.append("")
    inf = res["inference"]
    gi, pi = S.get("go_infer") or {}, S.get("py_infer") or {}
    if inf["status"] != "ok":
        L.append(f"{inf['status'].upper()} — {inf['reason']}")
    elif not gi.get("per_batch") and not pi.get("per_batch"):
        L.append("FAILED — see the failed configurations below.")
    else:
        L.append("The untrained benchmark network exported by `export.Export` (backbone features, "
                 "preprocessing in the graph, uint8 32x32x3 images in), loaded once. Go: `serve.Load` + "
                 "`Model.Embed` (Go bytes in, `[][]float32` out); Python: `tf.saved_model.load(...)"
                 ".signatures[\"serving_default\"]` (numpy in via `tf.constant`, `.numpy()` out). One call per batch.")
        L.append("")
        L.append("| | Go | Python | Go / Python |")
        L.append("| --- | ---: | ---: | ---: |")
        for b in (1, 64):
            a, c = (gi.get("per_batch") or {}).get(b), (pi.get("per_batch") or {}).get(b)
            r = ratio(a, c)
            L.append(f"| batch {b} (embeddings/s) | {med_range(a)} | {med_range(c)} | {times(r)} |")
        for label, key, d in (("process start → first embedding (s)", "time_to_first_embedding_s", 1),
                              ("peak RSS (MiB)", "peak_rss_mib", 0)):
            a, c = gi.get(key), pi.get(key)
            r = ratio(a, c)
            L.append(f"| {label} | {med_range(a, d)} | {med_range(c, d)} | {times(r)} |")
    L.append("")

    L.append("### Settings")
    L.append("")
    L.append("| | Go | Python |")
    L.append("| --- | --- | --- |")
    gst = g("go_graph", "settings") or {}
    pst = g("py_graph", "settings") or {}
    for k in ("batch", "width", "arch", "proj_dim", "proj_hidden", "proj_layers", "pred_hidden", "image_size",
              "intra_op_threads", "inter_op_threads", "augment", "prefetch"):
        L.append(f"| {k} | {gst.get(k, '–')} | {pst.get(k, '–')} |")
    ge, pe = g("go_graph", "env") or {}, g("py_graph", "env") or {}
    L.append(f"| runtime | {ge.get('go_version', '–')}, TF C API {ge.get('tf_version', '–')} (graft) | "
             f"Python {pe.get('python_version', '–')}, TF {pe.get('tf_version', '–')}, Keras {pe.get('keras_version', '–')} |")
    L.append("")
    failed = {k: v["errors"] for k, v in S.items() if v.get("errors")}
    if failed:
        L.append("### Failed configurations")
        L.append("")
        for k, v in failed.items():
            L.append(f"- {k}: {'; '.join(str(e) for e in v)}")
        L.append("")
    with open(path, "w") as f:
        f.write("\n".join(L))


def plot_scaling(path, res):
    S = res["summaries"]
    series = [("Go (graft, one Session.Run; oneDNN)", scaling_source(S, "go"), "tab:blue", "o"),
              ("Python (Keras + tf.function; TF defaults)", scaling_source(S, "py"), "tab:orange", "s"),
              ("Python, TF_ENABLE_ONEDNN_OPTS=1", (S.get("py_scaling_onednn") or {}).get("per_batch"),
               "tab:green", "^")]
    if not any(s[1] for s in series):
        return None
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("driver: matplotlib missing, no plot", file=sys.stderr)
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for label, pb, color, marker in series:
        if not pb:
            continue
        bs = sorted(pb)
        med = [pb[b]["median"] for b in bs]
        lo = [pb[b]["median"] - pb[b]["min"] for b in bs]
        hi = [pb[b]["max"] - pb[b]["median"] for b in bs]
        ax.errorbar(bs, med, yerr=[lo, hi], label=label, color=color, marker=marker, capsize=3)
    ax.set_xscale("log", base=2)
    allb = sorted(set().union(*[set(s[1]) for s in series if s[1]]))
    ax.set_xticks(allb)
    ax.set_xticklabels([str(b) for b in allb])
    ax.set_xlabel("batch size")
    ax.set_ylabel("images / s (train step, inputs in memory)")
    m = res["meta"]
    title = f"SimSiam ResNet-18 (width {m['width']}) train step, {m['host']['cpus']} CPUs"
    if m["tiny"]:
        title += " — tiny smoke test"
    if m["under_load"]:
        title += "\nmeasured under load (noisy)"
    ax.set_title(title, fontsize=9)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------


def shown_argv(argv):
    """The user's arguments, without the binary paths run.sh adds."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in ("--gobench", "--goinfer", "--python"):
            skip = True
            continue
        if a.split("=")[0] in ("--gobench", "--goinfer", "--python"):
            continue
        out.append(a)
    return out


def onednn_state(S, name):
    """on/off as the child's TensorFlow reported it, or ? when unknown."""
    v = ((S.get(name) or {}).get("env") or {}).get("onednn")
    return "?" if v is None else ("on" if v else "off")


def scaling_source(S, impl):
    """per_batch of the scaling runs: separate processes, or the main ones."""
    for name in (f"{impl}_scaling", f"{impl}_graph"):
        pb = (S.get(name) or {}).get("per_batch")
        if pb:
            return pb
    return None


def git_rev():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def prepare_inference(args, log_dir):
    """Exports the benchmarked network once (bench/goinfer -mode export).
    Returns (SavedModel directory or None, status dict)."""
    if "infer" in args.skip:
        return None, {"status": "skipped", "reason": "--skip infer"}
    if not args.goinfer or not os.path.exists(args.goinfer):
        return None, {"status": "todo", "reason": "bench/goinfer was not built (packages export / serve missing "
                                                  "or not compiling); no inference number is reported."}
    out = os.path.join(HERE, ".build", f"infer_w{args.width}")
    record, meta = run_child([args.goinfer, "--mode", "export", "--width", str(args.width), "--out", out],
                             {}, os.path.join(log_dir, "export.log"), args.timeout)
    if not record or record.get("error") or meta["exit_code"] != 0:
        why = (record or {}).get("error") or f"exit {meta['exit_code']}, see {meta['log']}"
        return None, {"status": "failed", "reason": f"export.Export of the benchmark network failed: {why}"}
    return record["savedmodel"], {"status": "ok", "savedmodel": os.path.relpath(record["savedmodel"], ROOT),
                                  "export_s": record["phases_s"].get("export")}


def render(args):
    with open(args.render) as f:
        res = json.load(f)
    for s in res["summaries"].values():  # JSON turned the batch keys into strings
        if s.get("per_batch"):
            s["per_batch"] = {int(b): v for b, v in s["per_batch"].items()}
    if args.plot and res["meta"].get("plot"):
        plot = plot_scaling(os.path.join(ROOT, res["meta"]["plot"]), res)
        res["meta"]["plot"] = os.path.relpath(plot, ROOT) if plot else None
    md = os.path.join(os.path.dirname(os.path.abspath(args.render)), "results.md")
    write_markdown(md, res)
    print(f"driver: wrote {os.path.relpath(md, ROOT)}", file=sys.stderr)
    return 0


def main(argv=None):
    args = parse_args(argv)
    if args.render:
        return render(args)
    t_start = time.time()
    build_dir = os.path.join(HERE, ".build")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    log_dir = os.path.join(build_dir, "logs", stamp)
    data_path = make_cifar_file(os.path.join(build_dir, f"cifar_synthetic_{args.images}", "data_batch_1.bin"),
                                args.images)
    infer_model, inference = prepare_inference(args, log_dir)
    print(f"driver: inference: {inference['status']}"
          f"{' (' + inference['reason'] + ')' if inference.get('reason') else ''}", file=sys.stderr)
    confs = configurations(args, data_path, infer_model)
    runs = {c[0]: [] for c in confs}
    foreign = []
    load_start = loadavg()
    print(f"driver: {len(confs)} configurations x {args.reps} round(s); logs in {os.path.relpath(log_dir, ROOT)}",
          file=sys.stderr)
    for rnd in range(args.reps):
        order = confs if rnd % 2 == 0 else list(reversed(confs))
        for name, cmd, env in order:
            t = time.perf_counter()
            record, meta = run_child(cmd, env, os.path.join(log_dir, f"r{rnd}_{name}.log"), args.timeout)
            meta["round"] = rnd
            runs[name].append({"record": record, "meta": meta})
            if meta.get("foreign_load_cores") is not None:
                foreign.append(meta["foreign_load_cores"])
            ips = (record or {}).get("images_per_sec", {}).get("median")
            status = "ok" if record and "error" not in record and meta["exit_code"] == 0 else "FAILED"
            print(f"driver: round {rnd + 1}/{args.reps} {name:<24} {status:<6} "
                  f"{fmt(ips)} img/s  rss {meta['peak_rss_mib']:.0f} MiB  "
                  f"{time.perf_counter() - t:.1f}s  other load {meta.get('foreign_load_cores', 0):.2f} cores",
                  file=sys.stderr)
    summaries = {name: summarize_runs(r) for name, r in runs.items()}
    gn = (summaries.get("go_graph") or {}).get("network") or {}
    pn = (summaries.get("py_graph") or {}).get("network") or {}
    networks_match = bool(gn) and bool(pn) and all(
        gn.get(k) == pn.get(k) for k in ("trainable_params", "fwd_flops_per_image", "trainable_variable_count"))
    fl = spread(foreign) or {"median": 0.0, "max": 0.0, "n": 0}
    cpus = os.cpu_count()
    meta = {
        "argv": shown_argv(argv if argv is not None else sys.argv[1:]), "tiny": args.tiny, "note": args.note,
        "started": datetime.datetime.fromtimestamp(t_start).isoformat(timespec="seconds"),
        "duration_s": time.time() - t_start, "git_rev": git_rev(),
        "host": {"cpus": cpus, "machine": platform.machine(), "system": platform.platform(),
                 "loadavg_start": load_start, "loadavg_end": loadavg(), **cpu_model_and_flags()},
        "batch": args.batch, "width": args.width, "reps": args.reps, "steps": args.steps, "blocks": args.blocks,
        "warmup": args.warmup, "scaling_batches": args.scaling_batches, "scaling_steps": args.scaling_steps,
        "images": args.images, "matmul": args.matmul, "proj": "2048-2048-2048 (3 layers)", "pred": "2048-512-2048",
        "data": os.path.relpath(data_path, ROOT), "foreign_load_cores": fl,
        # Another process using more than a quarter of a core on average.
        "under_load": fl["median"] > 0.25, "networks_match": networks_match,
        "tf_version": ((summaries.get("go_graph") or {}).get("env") or {}).get("tf_version"),
    }
    res = {"meta": meta, "summaries": summaries, "inference": inference, "runs": runs}
    plot = plot_scaling(args.plot, res)
    meta["plot"] = os.path.relpath(plot, ROOT) if plot else None
    os.makedirs(args.out, exist_ok=True)
    json_path = os.path.join(args.out, "results.json")
    md_path = os.path.join(args.out, "results.md")
    with open(json_path, "w") as f:
        json.dump(res, f, indent=1, default=str)
    write_markdown(md_path, res)
    meta["duration_s"] = time.time() - t_start
    print(f"driver: wrote {os.path.relpath(json_path, ROOT)}, {os.path.relpath(md_path, ROOT)}"
          f"{', ' + meta['plot'] if plot else ''} in {meta['duration_s']:.0f}s", file=sys.stderr)
    failed = [k for k, v in summaries.items() if not v.get("ok")]
    if failed:
        print(f"driver: FAILED configurations: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
