"""simsiam serve from a TensorFlow Serving client's point of view.

tests/parity/export (Go) exports a tiny SimSiam encoder; the test lays it out
as TensorFlow Serving does (models/tiny/1), starts `bin/simsiam serve` on a
free loopback port, sends TensorFlow Serving's REST JSON with urllib and
compares the answers with tf.saved_model.load on the same SavedModel. The
server is stopped by its PID with SIGTERM.
"""

import base64
import json
import queue
import re
import shutil
import signal
import subprocess
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest

from conftest import ROOT, go_run

tf = pytest.importorskip("tensorflow")

ATOL = 1e-5
BIN = ROOT / "bin" / "simsiam"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    if not BIN.exists():
        pytest.fail(f"{BIN} is missing: run `make build` (make test-python does)")
    out = tmp_path_factory.mktemp("serve_http")
    go_run("./tests/parity/export", "-mode", "export", "-out", str(out))
    base = out / "models" / "tiny"
    shutil.copytree(out / "model", base / "1")
    proc = subprocess.Popen([str(BIN), "serve", "--model", str(base), "--host", "127.0.0.1", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines, errs = queue.Queue(), []
    threading.Thread(target=lambda: [lines.put(l) for l in proc.stdout], daemon=True).start()
    threading.Thread(target=lambda: [errs.append(l) for l in proc.stderr], daemon=True).start()
    url = None
    try:
        while url is None:
            line = lines.get(timeout=120)
            m = re.search(r"at (http://127\.0\.0\.1:\d+)/v1/models/tiny", line)
            if m:
                url = m.group(1)
        yield {"url": url, "dir": out, "model": base / "1", "proc": proc, "lines": lines, "stderr": errs}
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # by PID
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)


def call(url, body=None):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_predict_matches_tf_saved_model_load(served):
    images = np.load(served["dir"] / "images.npy")  # uint8 (6, 20, 24, 3)
    model = tf.saved_model.load(str(served["model"]))
    want = model.signatures["serving_default"](images=tf.constant(images))["embedding"].numpy()
    assert np.abs(want).max() > 1e-3

    code, resp = call(served["url"] + "/v1/models/tiny:predict",
                      {"signature_name": "serving_default", "instances": images.tolist()})
    assert code == 200, resp
    got = np.array(resp["predictions"], np.float32)
    assert got.shape == want.shape == (6, 32)
    err = np.abs(got - want).max()
    print(f"max |HTTP (row) - tf.saved_model.load| = {err:.3g}")
    assert err <= ATOL

    code, resp = call(served["url"] + "/v1/models/tiny/versions/1:predict", {"inputs": {"images": images.tolist()}})
    assert code == 200, resp
    assert np.abs(np.array(resp["outputs"], np.float32) - want).max() <= ATOL

    proj = model.signatures["projection"](images=tf.constant(images))["projection"].numpy()
    code, resp = call(served["url"] + "/v1/models/tiny:predict",
                      {"signature_name": "projection", "instances": images.tolist()})
    assert code == 200, resp
    assert np.abs(np.array(resp["predictions"], np.float32) - proj).max() <= ATOL


def test_b64_png_matches_tf(served):
    # At the model's own size (16x16) the server's decode is the identity,
    # so TensorFlow on the raw pixels must agree.
    rng = np.random.default_rng(3)
    pix = rng.integers(0, 256, size=(2, 16, 16, 3), dtype=np.uint8)
    insts = [{"b64": base64.b64encode(tf.io.encode_png(p).numpy()).decode()} for p in pix]
    model = tf.saved_model.load(str(served["model"]))
    want = model.signatures["serving_default"](images=tf.constant(pix))["embedding"].numpy()
    code, resp = call(served["url"] + "/v1/models/tiny:predict", {"instances": insts})
    assert code == 200, resp
    assert np.abs(np.array(resp["predictions"], np.float32) - want).max() <= ATOL


def test_status_metadata_and_errors(served):
    code, st = call(served["url"] + "/v1/models/tiny")
    assert code == 200
    assert st["model_version_status"] == [{"version": "1", "state": "AVAILABLE",
                                           "status": {"error_code": "OK", "error_message": ""}}]
    code, md = call(served["url"] + "/v1/models/tiny/metadata")
    assert code == 200
    sig = md["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert sig["inputs"]["images"]["dtype"] == "DT_UINT8"
    assert [d["size"] for d in sig["inputs"]["images"]["tensor_shape"]["dim"]] == ["-1", "-1", "-1", "3"]
    assert sig["outputs"]["embedding"]["dtype"] == "DT_FLOAT"

    code, err = call(served["url"] + "/v1/models/tiny:predict", b'{"instances": [')
    assert code == 400 and "malformed JSON" in err["error"]
    code, err = call(served["url"] + "/v1/models/other:predict", {"instances": [[[[1, 2, 3]]]]})
    assert code == 404 and err["error"] == "Servable not found for request: Latest(other)"
    # Still serving.
    code, _ = call(served["url"] + "/v1/models/tiny:predict", {"instances": [[[[1, 2, 3]]]]})
    assert code == 200


def test_sigterm_stops_cleanly(served):
    proc = served["proc"]
    proc.send_signal(signal.SIGTERM)  # by PID
    assert proc.wait(timeout=60) == 0, "".join(served["stderr"])
    out = []
    while True:
        try:
            out.append(served["lines"].get(timeout=10))
        except queue.Empty:
            break
        if "serve stopped" in out[-1]:
            break
    assert any("simsiam: serve stopped (got SIGTERM)" in l for l in out), out
