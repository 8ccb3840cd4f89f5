package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/simsiam-go/simsiam/doctor"
)

const doctorUsage = `Usage: simsiam doctor [--dir DIR] [--timeout 30s] [--steps 3]

Checks this machine the way a run uses it, one line per check: the
libtensorflow loaded (and its CUDA and cuDNN), the devices TensorFlow sees, a
few steps of a tiny training on every device with the device of every node
read back from the run, what runtime.precision auto picks here (measured), a
2-worker all-reduce on loopback (ring on the CPU, NCCL with two GPUs), and
free memory and disk in DIR against what the default preset needs. Exits 1
when a check fails.

Examples:
  simsiam doctor
  simsiam doctor --dir /data/runs --timeout 60s
`

func cmdDoctor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("doctor", doctorUsage, stderr)
	dir := fs.String("dir", ".", "folder whose free space is checked (where runs go)")
	timeout := fs.Duration("timeout", 30*time.Second, "bound of each check that waits (the all-reduce)")
	steps := fs.Int("steps", 3, "training steps per device")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *timeout <= 0 || *steps < 1 {
		return usageError{fmt.Errorf("doctor: --timeout must be > 0 and --steps >= 1")}
	}
	checks, failed := doctor.Run(ctx, doctor.Options{Dir: *dir, Timeout: *timeout, Steps: *steps}, stdout)
	if failed {
		n := 0
		for _, c := range checks {
			if !c.OK {
				n++
			}
		}
		return fmt.Errorf("doctor: %d of %d checks failed", n, len(checks))
	}
	return nil
}
