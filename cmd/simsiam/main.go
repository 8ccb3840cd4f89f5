// Command simsiam trains and serves SimSiam (Chen & He, 2020) on TensorFlow.
//
//	simsiam train [--config FILE | --preset NAME] [--set key=value ...] [--resume | --force]
//	simsiam knn | linear-eval | export | embed | predict [flags]
//	simsiam config show|validate [--config FILE | --preset NAME] [--set key=value ...]
//	simsiam version
//
// Exit codes: 0 success (and a training run stopped by SIGINT, SIGTERM or
// SIGHUP after checkpointing), 1 runtime failure, 2 usage or configuration
// error, 130 another command interrupted by a signal, or a second signal.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/eval"
	"github.com/simsiam-go/simsiam/internal/sysinfo"
	"github.com/simsiam-go/simsiam/tfgraph"
	"github.com/simsiam-go/simsiam/train"
)

// usageError marks errors that exit with status 2.
type usageError struct{ error }

func main() {
	// TensorFlow's info and warning logs drown the progress output; keep
	// errors only unless the user asks for more.
	if _, ok := os.LookupEnv("TF_CPP_MIN_LOG_LEVEL"); !ok {
		os.Setenv("TF_CPP_MIN_LOG_LEVEL", "2")
	}
	flush := filterTFLogs()
	ctx, cancel := context.WithCancelCause(context.Background())
	stop := handleSignals(cancel, len(os.Args) > 1 && watchesContext[os.Args[1]], os.Stderr, os.Exit)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	flush()
	var re restartError
	if errors.As(err, &re) {
		err = restart(re.env)
	}
	var ue usageError
	sig, cut := interrupted(ctx, err)
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case cut:
		fmt.Fprintf(os.Stderr, "simsiam: interrupted by %s: %v\n", sig, err)
		os.Exit(exitInterrupted)
	case errors.As(err, &ue):
		fmt.Fprintln(os.Stderr, "simsiam:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "simsiam:", err)
		os.Exit(1)
	}
}

const topUsage = `simsiam trains SimSiam self-supervised encoders with TensorFlow.

Usage:
  simsiam train [flags]            pretrain (default config: the Fashion-MNIST demo)
  simsiam knn [flags]              kNN accuracy of a checkpoint (or random init, or raw pixels)
  simsiam linear-eval [flags]      linear classifier on the frozen backbone, top-1/top-5, SavedModel
  simsiam export [flags]           SavedModel from a checkpoint
  simsiam embed [flags]            embeddings of images as .npy
  simsiam predict [flags]          classify images with a linear-eval SavedModel
  simsiam preview [flags]          PNG grid of images and their two augmented views
  simsiam results measure|render   encoder and baselines as a results JSON; README table and kNN plot from it
  simsiam config show|validate     print or check the effective config
  simsiam config reference         every config key, its default and meaning (Markdown)
  simsiam server                   run a TensorFlow gRPC worker for multi-machine training (TF_CONFIG)
  simsiam version                  print versions and the devices TensorFlow sees

Run "simsiam COMMAND --help" for a command's flags.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, topUsage)
		return usageError{errors.New("no command given")}
	}
	switch args[0] {
	case "train":
		return cmdTrain(ctx, args[1:], stdout, stderr)
	case "config":
		return cmdConfig(args[1:], stdout, stderr)
	case "version":
		return cmdVersion(stdout)
	case "server":
		return cmdServer(ctx, args[1:], stdout, stderr)
	case "knn":
		return cmdKNN(ctx, args[1:], stdout, stderr)
	case "linear-eval":
		return cmdLinearEval(ctx, args[1:], stdout, stderr)
	case "export":
		return cmdExport(ctx, args[1:], stdout, stderr)
	case "embed":
		return cmdEmbed(args[1:], stdout, stderr)
	case "predict":
		return cmdPredict(args[1:], stdout, stderr)
	case "preview":
		return cmdPreview(args[1:], stdout, stderr)
	case "results":
		return cmdResults(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, topUsage)
		return nil
	}
	fmt.Fprint(stderr, topUsage)
	return usageError{fmt.Errorf("unknown command %q", args[0])}
}

// configFlags are the flags every command that reads a config shares.
type configFlags struct {
	file, preset string
	sets         multiFlag
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func (c *configFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.file, "config", "", "YAML config file")
	fs.StringVar(&c.preset, "preset", "", "embedded preset: "+strings.Join(configs.Presets(), ", "))
	fs.Var(&c.sets, "set", "override one key, e.g. --set optim.batch_size=64 (repeatable)")
}

func (c *configFlags) load(checkPaths bool) (*configs.Config, error) {
	cfg, err := configs.Load(configs.LoadOptions{File: c.file, Preset: c.preset, Sets: c.sets, Env: configEnv(os.Environ()), CheckPaths: checkPaths})
	if err != nil {
		return nil, usageError{err}
	}
	return cfg, nil
}

func newFlags(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

func cmdTrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("train", `Usage: simsiam train [flags]

Pretrains SimSiam. Without --config or --preset it runs the CPU-sized demo on
Fashion-MNIST. Output goes to output_dir: checkpoints/, config.yaml, metrics.jsonl.
A new run refuses an output_dir holding another run's files: --resume
continues that run, --force moves its files into output_dir/.replaced-TIME/.
One run at a time holds output_dir (a flock on output_dir/.lock).

Examples:
  simsiam train
  simsiam train --preset cifar10_resnet18 --set data.dir=/data/cifar-10-batches-bin
  simsiam train --config my.yaml --resume

Flags:
`, stderr)
	var cf configFlags
	cf.register(fs)
	resume := fs.Bool("resume", false, "continue from the newest checkpoint in output_dir")
	force := fs.Bool("force", false, "start afresh in an output_dir holding another run's files, moving them into output_dir/.replaced-TIME/")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *force && *resume {
		return usageError{errors.New("train: --force starts afresh and --resume continues: give one of them")}
	}
	cfg, err := cf.loadForTF(true, stderr)
	if err != nil {
		return err
	}
	// Multi-machine: with TF_CONFIG set and no explicit target, this process
	// becomes its task's TF server and drives the session through it; the
	// other tasks run "simsiam server". Towers go to runtime.devices.
	if tc, err := tfgraph.TFConfigFromEnv(); err != nil {
		return usageError{err}
	} else if tc != nil && cfg.Runtime.Target == "" {
		srv, err := tfgraph.NewServer(tc.Cluster, tc.Task.Type, tc.Task.Index)
		if err != nil {
			return err
		}
		cfg.Runtime.Target = srv.Target()
		fmt.Fprintf(stdout, "simsiam: TF server %s:%d, session target %s\n", tc.Task.Type, tc.Task.Index, cfg.Runtime.Target)
	}
	devices, err := eval.ResolveDevices(cfg.Runtime)
	if err != nil {
		return err
	}
	dnn, _ := tfgraph.OneDNNEnabled()
	fmt.Fprintf(stdout, "simsiam: training on %s: %s %s stem, %s (%s), batch %d, oneDNN %s, output %s\n", strings.Join(devices, ", "),
		cfg.Model.Arch, cfg.Model.Stem, cfg.Data.Format, cfg.Data.Dir, cfg.Optim.BatchSize, onOff(dnn), cfg.OutputDir)
	fmt.Fprintf(stdout, "simsiam: CPU %s\n", sysinfo.ReadCPU())
	res, err := train.Run(ctx, cfg, train.Options{Resume: *resume, Force: *force, Log: stdout, Devices: devices})
	var st *train.Stopped
	if errors.As(err, &st) {
		// Stopped by a signal after checkpointing: a success, with the way on.
		fmt.Fprintf(stdout, "simsiam: %s; resume with: %s\n", stoppedAt(st), resumeCommand(cfg.OutputDir))
		return nil
	}
	if err != nil {
		return err
	}
	if res.AlreadyComplete {
		fmt.Fprintf(stdout, "done: the run was already complete at step %d, nothing trained, checkpoint %s\n", res.Steps, res.Checkpoint)
	} else {
		fmt.Fprintf(stdout, "done: step %d loss %.4f z_std %.3f, %.1f images/s, checkpoint %s\n", res.Steps, res.Loss, res.ZStd, res.ImagesPerSec, res.Checkpoint)
	}
	if res.SavedModel != "" {
		fmt.Fprintf(stdout, "SavedModel: %s\n", res.SavedModel)
	}
	return nil
}

// stoppedAt describes where an interrupted run stopped.
func stoppedAt(st *train.Stopped) string {
	if st.Checkpoint == "" {
		return fmt.Sprintf("stopped at step %d (no checkpoint yet)", st.Step)
	}
	return fmt.Sprintf("stopped at step %d (checkpoint %s)", st.Step, st.Checkpoint)
}

// resumeCommand is the command line that continues the run in outputDir:
// its config.yaml holds the effective config, overrides included.
func resumeCommand(outputDir string) string {
	return "simsiam train --config " + shellQuote(filepath.Join(outputDir, "config.yaml")) + " --resume"
}

// shellQuote quotes s for a POSIX shell when it holds anything but letters,
// digits and -_./=+:,@%.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=+:,@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func cmdConfig(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "reference" {
		fs := newFlags("config reference", "Usage: simsiam config reference\n\nPrints every config key, its type, default and meaning as a Markdown table.\n", stderr)
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		_, err := io.WriteString(stdout, configs.Reference())
		return err
	}
	if len(args) == 0 || (args[0] != "show" && args[0] != "validate") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(stdout, "Usage: simsiam config show|validate [--config FILE | --preset NAME] [--set key=value ...]")
			return flag.ErrHelp
		}
		return usageError{errors.New("usage: simsiam config show|validate [flags]")}
	}
	fs := newFlags("config "+args[0], "Usage: simsiam config "+args[0]+" [flags]\n\nFlags:\n", stderr)
	var cf configFlags
	cf.register(fs)
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	cfg, err := cf.load(args[0] == "validate")
	if err != nil {
		return err
	}
	if args[0] == "validate" {
		fmt.Fprintln(stdout, "config is valid")
		return nil
	}
	y, err := cfg.YAML()
	if err != nil {
		return err
	}
	_, err = stdout.Write(y)
	return err
}

func cmdServer(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("server", `Usage: simsiam server [flags]

Runs this machine's task of a TensorFlow cluster (TensorFlow's own gRPC
runtime) until SIGINT, SIGTERM or SIGHUP. The cluster and task come from TF_CONFIG, e.g.
  TF_CONFIG='{"cluster":{"worker":["h0:2222","h1:2222"]},"task":{"type":"worker","index":1}}' simsiam server
The chief (task 0) runs "simsiam train" with the same TF_CONFIG and
runtime.devices naming the towers, e.g.
  --set 'runtime.devices=[/job:worker/task:0/device:GPU:0,/job:worker/task:1/device:GPU:0]'

Flags:
`, stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	// A worker runs the kernels of the graphs the chief sends it, with the
	// default runtime.onednn (the server has no config of its own).
	if err := applyOneDNN(configs.Default().Runtime.OneDNN, stderr); err != nil {
		return err
	}
	tc, err := tfgraph.TFConfigFromEnv()
	if err != nil {
		return usageError{err}
	}
	if tc == nil {
		return usageError{errors.New("server: TF_CONFIG is not set")}
	}
	srv, err := tfgraph.NewServer(tc.Cluster, tc.Task.Type, tc.Task.Index)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "simsiam: TF server %s:%d serving at %s\n", tc.Task.Type, tc.Task.Index, srv.Target())
	// TensorFlow cannot stop a gRPC server (TF_DeleteServer aborts), and
	// Join never returns: on a signal the process exits with the server in it.
	joined := make(chan error, 1)
	go func() { joined <- srv.Join() }()
	select {
	case err := <-joined:
		return err
	case <-ctx.Done():
		fmt.Fprintf(stdout, "simsiam: TF server %s:%d stopped (%v)\n", tc.Task.Type, tc.Task.Index, context.Cause(ctx))
		return nil
	}
}

func cmdVersion(stdout io.Writer) error {
	mod := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		mod = bi.Main.Version
	}
	fmt.Fprintf(stdout, "simsiam %s\nTensorFlow %s\n", mod, tfgraph.Version())
	fmt.Fprintf(stdout, "libtensorflow: %s\n", orNone(tfgraph.LoadedLibrary("libtensorflow_cc.so")))
	fmt.Fprintf(stdout, "CPU: %s\n", sysinfo.ReadCPU())
	devs, err := tfgraph.ListDevices(eval.SessionOptions(configs.Default().Runtime))
	if err != nil {
		return err
	}
	names := make([]string, len(devs))
	for i, d := range devs {
		names[i] = d.String()
	}
	fmt.Fprintf(stdout, "devices: %s\n", strings.Join(names, ", "))
	// The CUDA build loads the CUDA runtime with libtensorflow; the CPU build
	// has none.
	if cudart := tfgraph.LoadedLibrary("libcudart.so"); cudart != "" {
		fmt.Fprintf(stdout, "CUDA runtime: %s\n", cudart)
	}
	if on, known := tfgraph.OneDNNEnabled(); known {
		fmt.Fprintf(stdout, "oneDNN CPU kernels: %s (%s=%q; train and eval set it from runtime.onednn)\n",
			onOff(on), tfgraph.OneDNNEnv, os.Getenv(tfgraph.OneDNNEnv))
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(not found in /proc/self/maps)"
	}
	return s
}

// reservedEnv are SIMSIAM_* variables that are not config keys: the
// libtensorflow setup and the test suite use them.
var reservedEnv = map[string]bool{
	"SIMSIAM_CACHE": true, "SIMSIAM_PYTHON": true, "SIMSIAM_TF_PREFIX": true, "SIMSIAM_TF_VERSION": true, "SIMSIAM_TF_LIBDIR": true,
	"SIMSIAM_NO_REAL_DATA": true, "SIMSIAM_NO_PYTHON": true, "SIMSIAM_TEST_MAIN": true,
}

// configEnv drops the reserved variables; every other SIMSIAM_* variable
// must name a config key (SIMSIAM_OPTIM_BATCH_SIZE=64).
func configEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if !reservedEnv[name] {
			out = append(out, kv)
		}
	}
	return out
}
