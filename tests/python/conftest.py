import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))


def go_run(*args, cwd=ROOT, timeout=900, env_extra=None):
    """Runs a Go program of this repository (cgo env comes from `make`)."""
    env = dict(os.environ)
    env.update(env_extra or {})
    proc = subprocess.run(["go", "run", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"go run {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc


@pytest.fixture(scope="session")
def root():
    return ROOT
