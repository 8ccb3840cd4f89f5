"""Write the table of TensorFlow kernels registered for a device type.

Run with the Python of a TensorFlow build (make gpu-check uses the GPU
wheel's venv). For every op named on the command line (all registered ops
when none are), the table lists each kernel registered for the device type
and TensorFlow's DEFAULT registrations (which serve every device but the
CPU), one a line, tab-separated: op, device type, attribute constraints
(types by their enum names, bools and ints as written), host-memory
arguments. Kernels behind a label are left out: a node only gets
them by asking for the label. tfgraph.ReadKernelTable reads the table.

    python kernels.py GPU > gpu-kernels.tsv
"""
import sys

import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow.python.framework import kernels


def constraints(kernel):
    parts = []
    for c in sorted(kernel.constraint, key=lambda c: c.name):
        allowed = c.allowed_values.list
        values = ([types_pb2.DataType.Name(t) for t in allowed.type]
                  + ["true" if b else "false" for b in allowed.b]
                  + [str(i) for i in allowed.i]
                  + [s.decode() for s in allowed.s])
        parts.append(c.name + "=" + ",".join(sorted(values)))
    return ";".join(parts) or "-"


def main(argv):
    device = argv[1] if len(argv) > 1 else "GPU"
    registry = kernels.get_all_registered_kernels().kernel
    ops = sorted(set(argv[2:]) or {k.op for k in registry})
    wanted = set(ops)
    rows = set()
    for k in registry:
        if k.op in wanted and k.device_type in (device, "DEFAULT") and not k.label:
            rows.add((k.op, k.device_type, constraints(k), ",".join(sorted(k.host_memory_arg)) or "-"))
    print("# TensorFlow kernels registered for device type %s (and DEFAULT)." % device)
    print("# Written by third_party/libtensorflow/kernels.py (make gpu-check); read by tfgraph.ReadKernelTable.")
    print("# source: TensorFlow %s (%s), built with CUDA: %s" % (tf.__version__, tf.version.GIT_VERSION, tf.test.is_built_with_cuda()))
    print("# ops: " + " ".join(ops))
    for row in sorted(rows):
        print("\t".join(row))


if __name__ == "__main__":
    main(sys.argv)
