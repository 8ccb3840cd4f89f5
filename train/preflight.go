package train

// Checks made before the heavy work of a run, each failure one line.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/eval"
	"github.com/simsiam-go/simsiam/runfolder"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// preflight checks, before any data is read, that output_dir takes a file,
// that the data folders exist and that the devices the config names are
// there. Every failure is one line of the error. It returns the config
// placed on the resolved devices (cfg itself when devices is given). Only
// the process that writes the run's files (chief) checks output_dir.
func preflight(cfg *configs.Config, devices []string, chief bool) (*configs.Config, error) {
	var errs []error
	if chief {
		if err := checkWritable(cfg.OutputDir); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, checkDataDir("data.dir", cfg.Data.Dir))
	if cfg.Train.KNNEvery > 0 {
		errs = append(errs, checkDataDir("eval.dir", cfg.Eval.Dir))
	}
	placed := cfg
	if devices != nil {
		c := *cfg
		c.Runtime.Devices = devices
		placed = &c
	} else if p, err := eval.WithDevices(cfg); err != nil {
		errs = append(errs, fmt.Errorf("preflight: runtime.devices: %w", err))
	} else {
		placed = p
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return placed, nil
}

// checkWritable creates, writes, syncs and removes a small file in dir.
func checkWritable(dir string) error {
	fail := func(err error) error {
		return fmt.Errorf("preflight: output_dir %s is not writable: %w", dir, err)
	}
	// Removed at once; removeLeftovers removes one a kill left.
	f, err := os.CreateTemp(dir, runfolder.PreflightPrefix)
	if err != nil {
		return fail(err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write([]byte("ok\n")); err != nil {
		f.Close()
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	return nil
}

// checkDataDir checks that a data folder exists and can be listed.
func checkDataDir(key, dir string) error {
	st, err := os.Stat(dir)
	switch {
	case err != nil:
		return fmt.Errorf("preflight: %s %s: %w", key, dir, err)
	case !st.IsDir():
		return fmt.Errorf("preflight: %s %s is not a directory", key, dir)
	}
	f, err := os.Open(dir)
	if err == nil {
		_, err = f.Readdirnames(1)
		f.Close()
	}
	if err != nil && !errors.Is(err, io.EOF) { // io.EOF: an empty folder
		return fmt.Errorf("preflight: %s %s cannot be read: %w", key, dir, err)
	}
	return nil
}

// dtypeBytes is the size of one element of a variable's type.
func dtypeBytes(dt tfgraph.DataType) int64 {
	switch dt {
	case tfgraph.Double, tfgraph.Int64:
		return 8
	case tfgraph.Uint8, tfgraph.Bool:
		return 1
	}
	return 4
}

// diskNeed estimates the bytes a run writes at once at worst: two
// checkpoints (the new one is complete before the oldest is deleted) of
// every variable, and the SavedModel's variables (encoder and projector).
// Index files, the graph and the logs are small next to them; a tenth is
// added for them.
func diskNeed(vars []*tfgraph.Variable) (ckpt, savedModel int64) {
	for _, v := range vars {
		n := dtypeBytes(v.DType)
		for _, d := range v.Dims {
			n *= d
		}
		ckpt += n
		if strings.HasPrefix(v.Key, "encoder/") || strings.HasPrefix(v.Key, "projector/") {
			savedModel += n
		}
	}
	return ckpt, savedModel
}

// freeBytes is the space available to this user on dir's file system.
func freeBytes(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// checkDisk refuses a run whose output_dir's file system has less free
// space than two checkpoints and the SavedModel of vars need; exportOnly (a
// resume of a run that reached its last step, which only exports) needs the
// SavedModel alone. free is freeBytes, a parameter for tests.
func checkDisk(dir string, vars []*tfgraph.Variable, exportOnly bool, free func(string) (int64, error)) error {
	ckpt, sm := diskNeed(vars)
	need, what := 2*ckpt+sm, fmt.Sprintf("two checkpoints of %s and a SavedModel of %s", mib(ckpt), mib(sm))
	if exportOnly {
		need, what = sm, fmt.Sprintf("the SavedModel of %s: it has trained every step and only exports", mib(sm))
	}
	need += need / 10
	have, err := free(dir)
	if err != nil {
		return fmt.Errorf("preflight: free space of output_dir %s: %w", dir, err)
	}
	if have < need {
		return fmt.Errorf("preflight: output_dir %s has %s free, the run needs about %s (%s): free some space or choose another output_dir",
			dir, mib(have), mib(need), what)
	}
	return nil
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
