package doctor

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/eval"
	"github.com/simsiam-go/simsiam/tfgraph"
	"github.com/simsiam-go/simsiam/train"
)

// library names the libtensorflow this process loaded and, for the CUDA
// build, its CUDA runtime and cuDNN.
func library() Check {
	lib := tfgraph.LoadedLibrary("libtensorflow_cc.so")
	if lib == "" {
		return Check{Name: "libtensorflow", Detail: "libtensorflow_cc.so is not mapped in this process"}
	}
	d := fmt.Sprintf("TensorFlow %s from %s", tfgraph.Version(), lib)
	if cudart := tfgraph.LoadedLibrary("libcudart.so"); cudart != "" {
		d += "; CUDA runtime " + cudart
		if cudnn := tfgraph.LoadedLibrary("libcudnn.so"); cudnn != "" {
			d += "; cuDNN " + cudnn
		} else {
			d += "; cuDNN not loaded yet (TensorFlow loads it with the first convolution)"
		}
	} else {
		d += "; CPU build (no CUDA runtime)"
	}
	if on, known := tfgraph.OneDNNEnabled(); known {
		d += fmt.Sprintf("; oneDNN %v", on)
	}
	return Check{Name: "libtensorflow", OK: true, Detail: d}
}

// devices lists what TensorFlow sees.
func devices() ([]tfgraph.Device, Check) {
	ds, err := tfgraph.ListDevices(tfgraph.SessionOptions{GPUMemoryGrowth: true})
	if err != nil {
		return nil, Check{Name: "devices", Detail: err.Error()}
	}
	var names []string
	cpu := false
	for _, d := range ds {
		s := shortDevice(d.Name) + " (" + d.Type
		if d.MemoryBytes > 0 && d.Type != "CPU" {
			s += fmt.Sprintf(", %.1f GiB", float64(d.MemoryBytes)/(1<<30))
		}
		names = append(names, s+")")
		cpu = cpu || d.Type == "CPU"
	}
	if !cpu {
		return ds, Check{Name: "devices", Detail: "no CPU device among " + strings.Join(names, ", ")}
	}
	return ds, Check{Name: "devices", OK: true, Detail: strings.Join(names, ", ")}
}

// shortDevice is "/device:GPU:0" of "/job:localhost/replica:0/task:0/device:GPU:0".
func shortDevice(name string) string {
	if i := strings.Index(name, "/device:"); i >= 0 {
		return name[i:]
	}
	return name
}

// tinyConfig is a training run small enough for a few steps anywhere, on
// device, in fp32.
func tinyConfig(device string) (*configs.Config, error) {
	return configs.Load(configs.LoadOptions{Preset: configs.DefaultPreset, Sets: []string{
		"model.width=4", "model.proj_dim=32", "model.proj_hidden=32", "model.pred_hidden=8",
		"optim.batch_size=8", "train.knn_every=0", "runtime.precision=fp32",
		"runtime.devices=[" + device + "]",
	}})
}

// trainOn runs a few steps of a tiny training on d and reads back, from
// the partition graphs of one step, the device every node ran on: a node
// of the step that did not run on d is a failure naming it.
func trainOn(d tfgraph.Device, steps int) Check {
	name := "train " + shortDevice(d.Name)
	fail := func(err error) Check { return Check{Name: name, Detail: err.Error()} }
	cfg, err := tinyConfig(shortDevice(d.Name))
	if err != nil {
		return fail(err)
	}
	p, err := train.BuildPipeline(cfg, 10, int64(steps)+1)
	if err != nil {
		return fail(err)
	}
	side, ch := cfg.Data.ImageSize, cfg.Data.Channels
	n := cfg.Optim.BatchSize
	rng := rand.New(rand.NewPCG(1, 2))
	pix := make([]byte, n*side*side*ch)
	for i := range pix {
		pix[i] = byte(rng.IntN(256))
	}
	feeds, err := p.Feeds(pix, n, side, side, ch, 1, 0)
	if err != nil {
		return fail(err)
	}
	so := tfgraph.SessionOptions{AllowSoftPlacement: true, GPUMemoryGrowth: true, Precision: tfgraph.PrecisionFP32}
	nodes, err := tfgraph.OptimizedGraph(p.Graph, so, feeds, p.Init, p.Train)
	if err != nil {
		return fail(err)
	}
	built, err := p.Graph.Nodes()
	if err != nil {
		return fail(err)
	}
	if bad := Misplaced(nodes, built, d.Type); len(bad) > 0 {
		var names []string
		for _, b := range bad {
			names = append(names, fmt.Sprintf("%s (%s) on %s", b.Name, b.Op, shortDevice(b.Device)))
		}
		return fail(fmt.Errorf("%d of %d nodes did not run on %s: %s", len(bad), len(nodes), d.Type, joinLimited(names, 5)))
	}
	sess, err := train.NewSession(p.Step, so)
	if err != nil {
		return fail(err)
	}
	defer sess.Close()
	start := time.Now()
	var last train.Stats
	for i := range steps {
		if feeds, err = p.Feeds(pix, n, side, side, ch, 1, int64(i)); err != nil {
			return fail(err)
		}
		if last, err = sess.TrainStep(feeds); err != nil {
			return fail(fmt.Errorf("step %d: %w", i+1, err))
		}
	}
	per := time.Since(start) / time.Duration(steps)
	return Check{Name: name, OK: true, Detail: fmt.Sprintf("%d steps of a tiny SimSiam (batch %d, %d px), loss %.4f, %v a step; all %d nodes of the step ran on %s",
		steps, n, side, last.Loss, per.Round(time.Millisecond), len(nodes), d.Type)}
}

// Misplaced returns the nodes of a run (ran: the partition graphs, with
// the devices TensorFlow assigned) that should have run on a device of type
// want but did not. Where they should run is what the graph asked for
// (built: its nodes with their requested devices): a node built for the
// host (file I/O) belongs there; TensorFlow's own transfer and argument
// nodes ("_Send", "_Recv", "_Arg", ...) and NoOps are wherever TensorFlow
// puts them; every other node, grappler's new ones included, belongs on
// want. With soft placement (what the program's sessions use) a node with
// no kernel for its types on want runs on the CPU silently: this finds it.
func Misplaced(ran, built []tfgraph.Node, want string) []tfgraph.Node {
	requested := make(map[string]string, len(built))
	for _, n := range built {
		requested[n.Name] = n.Device
	}
	var bad []tfgraph.Node
	for _, n := range ran {
		if strings.Contains(n.Device, "device:"+want+":") || strings.HasPrefix(n.Op, "_") || n.Op == "NoOp" {
			continue
		}
		if r, ok := requested[n.Name]; ok && r != "" && !strings.Contains(r, want) {
			continue // built for the host on purpose
		}
		bad = append(bad, n)
	}
	return bad
}

// precision says what runtime.precision auto picks here, measured.
func precision() Check {
	p, why := eval.Precision(configs.Default().Runtime)
	return Check{Name: "precision", OK: !strings.Contains(why, "probe failed"), Detail: fmt.Sprintf("auto = %s (%s)", p, strings.TrimPrefix(why, "auto: "))}
}

// allReduce starts two TensorFlow servers on loopback and averages a
// vector over them with CollectiveReduceV2: ring on the CPU, NCCL where
// two GPUs are visible (one GPU per worker, as training places them).
func allReduce(ctx context.Context, devs []tfgraph.Device, timeout time.Duration) Check {
	const name = "all-reduce"
	fail := func(err error) Check { return Check{Name: name, Detail: err.Error()} }
	gpus := 0
	for _, d := range devs {
		if d.Type == "GPU" {
			gpus++
		}
	}
	hint, dev := "ring", "CPU:0"
	var tasks []tfgraph.TaskAddr
	cluster := tfgraph.Cluster{}
	for i := range 2 {
		addr, err := freeLoopbackPort()
		if err != nil {
			return fail(err)
		}
		tasks = append(tasks, tfgraph.TaskAddr{Job: "worker", Index: i, Addr: addr})
		cluster["worker"] = append(cluster["worker"], addr)
	}
	if gpus >= 2 {
		hint = "nccl"
	}
	type worker struct {
		sess *tfgraph.Session
		out  tfgraph.Output
	}
	var ws []worker
	for i, task := range tasks {
		srv, err := tfgraph.NewServer(cluster, "worker", i, tfgraph.ServerOptions{CollectiveGroupLeader: tasks[0].Device(), CollectiveNCCL: hint == "nccl"})
		if err != nil {
			return fail(err)
		}
		if hint == "nccl" {
			dev = fmt.Sprintf("GPU:%d", i)
		}
		g := tfgraph.NewGraph()
		g.SetDevice(task.Device() + "/device:" + dev)
		s := g.Root()
		x := s.Const("x", []float32{float32(i + 1), float32(10 * (i + 1))})
		y := s.AllReduce("mean", x, tfgraph.Group{Size: 2, Key: 1, Hint: hint}, 1, "Div", float32(timeout.Seconds()))
		sess, err := tfgraph.NewSession(g, tfgraph.SessionOptions{Target: srv.Target(), DeviceFilters: []string{task.Device()},
			CollectiveNCCL: hint == "nccl", GPUMemoryGrowth: true})
		if err != nil {
			return fail(err)
		}
		defer sess.Close()
		ws = append(ws, worker{sess, y})
	}
	results := make([][]float32, len(ws))
	errs := make([]error, len(ws))
	var wg sync.WaitGroup
	start := time.Now()
	for i, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := w.sess.Run(nil, []tfgraph.Output{w.out})
			if err == nil {
				results[i], err = tfgraph.Value[[]float32](out[0])
			}
			errs[i] = err
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fail(ctx.Err())
	case <-time.After(timeout + 5*time.Second):
		return fail(fmt.Errorf("the 2-worker all-reduce did not finish in %v", timeout+5*time.Second))
	}
	for i, err := range errs {
		if err != nil {
			return fail(fmt.Errorf("worker %d: %w", i, err))
		}
		if len(results[i]) != 2 || results[i][0] != 1.5 || results[i][1] != 15 {
			return fail(fmt.Errorf("worker %d got %v, want the mean [1.5 15]", i, results[i]))
		}
	}
	return Check{Name: name, OK: true, Detail: fmt.Sprintf("2 workers on %s and %s (%s on %s) averaged [1 10] and [2 20] to [1.5 15] in %v",
		tasks[0].Addr, tasks[1].Addr, hint, dev, time.Since(start).Round(time.Millisecond))}
}

func freeLoopbackPort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("no free loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// machineFit compares the free memory and disk with what the default
// preset's run needs (its step, the Fashion-MNIST train and test images,
// two checkpoints and a SavedModel).
func machineFit(dir string) []Check {
	cfg, err := configs.Load(configs.LoadOptions{Preset: configs.DefaultPreset})
	if err != nil {
		return []Check{{Name: "memory", Detail: err.Error()}}
	}
	const images = 130000 // the demo's 60k training images, its 60k kNN bank and 10k test images
	f, err := train.MachineFit(cfg, dir, images)
	if err != nil {
		return []Check{{Name: "memory", Detail: err.Error()}}
	}
	return []Check{
		{Name: "memory", OK: f.MemoryOK(), Detail: fmt.Sprintf("%s available in %s; the %s preset needs about %s",
			gib(f.MemoryAvailable), f.MemoryWhere, configs.DefaultPreset, gib(f.Memory))},
		{Name: "disk", OK: f.DiskOK(), Detail: fmt.Sprintf("%s free in %s; a %s run writes about %s (two checkpoints and a SavedModel)",
			gib(f.DiskFree), dir, configs.DefaultPreset, mib(f.Disk))},
	}
}

func gib(n int64) string { return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30)) }
func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
