// Package doctor checks a machine the way a run will use it, one line per
// check: the libtensorflow loaded (and its CUDA and cuDNN), the devices
// TensorFlow sees, a few steps of a tiny training on every device with the
// device of every node read back from the run, what runtime.precision auto
// picks (measured), a 2-worker all-reduce on loopback, and the free memory
// and disk against what the default preset needs. It is the command a GPU
// user runs first: this project's CI has no GPU, so the GPU branches are
// checked there through the same placement rules the CUDA build's kernel
// table tests (Misplaced).
package doctor

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
)

// Check is the outcome of one check.
type Check struct {
	Name   string
	OK     bool
	Detail string
}

func (c Check) String() string {
	status := "ok  "
	if !c.OK {
		status = "FAIL"
	}
	return fmt.Sprintf("%s %-14s %s", status, c.Name+":", c.Detail)
}

// Options say where to look.
type Options struct {
	// Dir is the folder whose free space is checked (the runs' folder).
	Dir string
	// Timeout bounds each check that waits on something (the all-reduce).
	Timeout time.Duration
	// Steps is the number of training steps per device (at least 1).
	Steps int
}

// Run runs every check in order, writing each line to w as it finishes,
// and returns them all; failed reports whether any failed. A check that
// cannot run is a failed check, not an error.
func Run(ctx context.Context, o Options, w io.Writer) (checks []Check, failed bool) {
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Steps < 1 {
		o.Steps = 3
	}
	add := func(cs ...Check) {
		for _, c := range cs {
			checks = append(checks, c)
			failed = failed || !c.OK
			fmt.Fprintln(w, c)
		}
	}
	add(library())
	devs, c := devices()
	add(c)
	for _, d := range devs {
		if ctx.Err() != nil {
			break
		}
		add(trainOn(d, o.Steps))
	}
	if ctx.Err() == nil {
		add(precision())
	}
	if ctx.Err() == nil {
		add(allReduce(ctx, devs, o.Timeout))
	}
	if ctx.Err() == nil {
		add(machineFit(o.Dir)...)
	}
	if err := ctx.Err(); err != nil {
		add(Check{Name: "doctor", Detail: "stopped: " + err.Error()})
	}
	return checks, failed
}

// joinLimited joins at most n items, saying how many more there are.
func joinLimited(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], ", "), len(items)-n)
}
