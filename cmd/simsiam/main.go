// Command simsiam trains and serves SimSiam (Chen & He, 2020) on TensorFlow.
//
//	simsiam train [--config FILE | --preset NAME] [--set key=value ...] [--resume | --force]
//	simsiam knn | linear-eval | export | embed | predict | serve [flags]
//	simsiam config show|validate [--config FILE | --preset NAME] [--set key=value ...]
//	simsiam version
//
// Exit codes: 0 success (and a training run stopped by SIGINT, SIGTERM or
// SIGHUP after checkpointing), 1 runtime failure, 2 usage or configuration
// error, 3 a panic in a command (its trace on stderr), 130 another command
// interrupted by a signal, or a second signal.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/internal/session"
	"github.com/simsiam-go/simsiam/internal/sysinfo"
	"github.com/simsiam-go/simsiam/runfolder"
	"github.com/simsiam-go/simsiam/tfgraph"
	"github.com/simsiam-go/simsiam/train"
)

// usageError marks errors that exit with status 2.
type usageError struct{ error }

// exitCrash is the status of a panic in a command (a bug): its message and
// stack go to stderr. Panics on other goroutines and fatal runtime errors
// end with the Go runtime's own status 2, their trace on stderr as well.
const exitCrash = 3

func main() { mainWith(run) }

// mainWith runs one command (cmd is run, or a test's stand-in) with the TF
// log filter, the signal handling and the exit statuses of the command.
func mainWith(cmd func(ctx context.Context, args []string, stdout, stderr io.Writer) error) {
	// TensorFlow's info and warning logs drown the progress output; keep
	// errors only unless the user asks for more.
	if _, ok := os.LookupEnv("TF_CPP_MIN_LOG_LEVEL"); !ok {
		os.Setenv("TF_CPP_MIN_LOG_LEVEL", "2")
	}
	flush := filterTFLogs()
	defer func() {
		if p := recover(); p != nil {
			flush() // stderr is the terminal again
			fmt.Fprintf(os.Stderr, "simsiam: crashed (a bug in simsiam; please report it with this trace): panic: %v\n\n%s", p, debug.Stack())
			os.Exit(exitCrash)
		}
	}()
	ctx, cancel := context.WithCancelCause(context.Background())
	stop := handleSignals(cancel, len(os.Args) > 1 && watchesContext[os.Args[1]], os.Stderr, os.Exit)
	err := cmd(ctx, os.Args[1:], os.Stdout, os.Stderr)
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
  simsiam serve --model DIR        serve a SavedModel over HTTP with TensorFlow Serving's REST API
  simsiam preview [flags]          PNG grid of images and their two augmented views
  simsiam results measure|render   encoder and baselines as a results JSON; README table and kNN plot from it
  simsiam config show|validate     print or check the effective config
  simsiam config reference         every config key, its default and meaning (Markdown)
  simsiam worker                   run a bare TensorFlow gRPC server for this task of TF_CONFIG (server: old name)
  simsiam version                  print versions and the devices TensorFlow sees
  simsiam doctor                   check this machine: library, devices, a tiny train per device, precision, all-reduce, memory, disk

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
	case "doctor":
		return cmdDoctor(ctx, args[1:], stdout, stderr)
	case "worker":
		return cmdServer(ctx, args[1:], stdout, stderr)
	case "server":
		fmt.Fprintln(stderr, "simsiam: \"simsiam server\" is deprecated, use \"simsiam worker\"")
		return cmdServer(ctx, args[1:], stdout, stderr)
	case "knn":
		return cmdKNN(ctx, args[1:], stdout, stderr)
	case "linear-eval":
		return cmdLinearEval(ctx, args[1:], stdout, stderr)
	case "export":
		return cmdExport(ctx, args[1:], stdout, stderr)
	case "embed":
		return cmdEmbed(args[1:], stdout, stderr)
	case "serve":
		return cmdServe(ctx, args[1:], stdout, stderr)
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

Data parallelism: --workers N starts N workers on this machine (one per
GPU); on several machines every worker runs the same command with its own
TF_CONFIG (see docs/distributed.md). optim.batch_size is the global batch.

Examples:
  simsiam train
  simsiam train --preset cifar10_resnet18 --set data.dir=/data/cifar-10-batches-bin
  simsiam train --config my.yaml --resume
  simsiam train --preset cifar10_resnet18 --workers 4

Flags:
`, stderr)
	var cf configFlags
	cf.register(fs)
	resume := fs.Bool("resume", false, "continue from the newest checkpoint in output_dir")
	force := fs.Bool("force", false, "start afresh in an output_dir holding another run's files, moving them into output_dir/.replaced-TIME/")
	workers := fs.Int("workers", 0, "data parallelism on this machine: start this many worker processes (one per GPU when there are GPUs) on loopback, each training on its share of every batch")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *force && *resume {
		return usageError{errors.New("train: --force starts afresh and --resume continues: give one of them")}
	}
	if *workers < 0 {
		return usageError{fmt.Errorf("train: --workers %d: give the number of worker processes, at least 1", *workers)}
	}
	if *workers > 0 {
		if os.Getenv("TF_CONFIG") != "" {
			return usageError{errors.New("train: --workers starts its own workers on this machine; unset TF_CONFIG (it describes one worker of a cluster)")}
		}
		cfg, err := cf.load(true)
		if err != nil {
			return err
		}
		if err := train.UseRunFolder(cf.file, cfg, *resume, stdout); err != nil {
			return err
		}
		return launch(ctx, cfg, *workers, withoutWorkersFlag(args), stdout, stderr)
	}
	cfg, err := cf.loadForTF(true, stderr)
	if err != nil {
		return err
	}
	// A moved run resumes where its config.yaml is.
	if err := train.UseRunFolder(cf.file, cfg, *resume, stdout); err != nil {
		return err
	}
	devices, err := session.ResolveDevices(cfg.Runtime)
	if err != nil {
		return err
	}
	// TF_CONFIG makes this process one worker of a data-parallel job, with
	// its own TF server (between-graph replication).
	rep, err := joinCluster(ctx, cfg, devices, stdout)
	if err != nil {
		return err
	}
	dnn, _ := tfgraph.OneDNNEnabled()
	prec, why := session.Precision(cfg.Runtime)
	fmt.Fprintf(stdout, "simsiam: training on %s: %s %s stem, %s (%s), batch %d, oneDNN %s, precision %s (%s), output %s\n", strings.Join(devices, ", "),
		cfg.Model.Arch, cfg.Model.Stem, cfg.Data.Format, cfg.Data.Dir, cfg.Optim.BatchSize, onOff(dnn), prec, why, cfg.OutputDir)
	fmt.Fprintf(stdout, "simsiam: CPU %s\n", sysinfo.ReadCPU())
	res, err := train.Run(ctx, cfg, withEvalAndExport(train.Options{Resume: *resume, Force: *force, Log: stdout, Devices: devices, Replicas: rep}))
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
// the newest effective config (config.yaml, or the config.resume-N.yaml of
// the last resume that changed keys) holds every override.
func resumeCommand(outputDir string) string {
	return "simsiam train --config " + shellQuote(runfolder.Dir(outputDir).EffectiveConfig()) + " --resume"
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
	fs := newFlags("worker", `Usage: simsiam worker [flags]

Runs this task of a TensorFlow cluster (TensorFlow's own gRPC runtime) as a
bare server until SIGINT, SIGTERM or SIGHUP, for graphs another process
places on it (runtime.target). The cluster and task come from TF_CONFIG, e.g.
  TF_CONFIG='{"cluster":{"worker":["h0:2222","h1:2222"]},"task":{"type":"worker","index":1}}' simsiam worker
Data-parallel training does not need it: every machine runs
"simsiam train" with its TF_CONFIG, which starts its own server.
"simsiam server" is the old name of this command.

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
	srv, err := tfgraph.NewServer(tc.Cluster, tc.Task.Type, tc.Task.Index, tfgraph.ServerOptions{})
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
	devs, err := tfgraph.ListDevices(session.Options(configs.Default().Runtime))
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
	// What runtime.precision: auto means here, with the default runtime.onednn
	// (train and eval turn oneDNN on from it).
	auto := configs.Default().Runtime
	prec, why := session.Precision(auto)
	fmt.Fprintf(stdout, "precision: auto = %s here (%s)\n", prec, strings.TrimPrefix(why, "auto: "))
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
