package train

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/simsiam-go/simsiam/tfgraph"
)

// Replicas is this process's place in a between-graph data-parallel job:
// one process per device, each building the single-device step on its own
// slice of every global batch; the gradients, the loss and the new
// BatchNorm moving statistics are averaged by collective all-reduce before
// the update, so every worker applies the same update to the same weights.
// Task 0 (rank 0) is the chief: it alone writes checkpoints, metrics,
// summaries and the SavedModel, and its weights are broadcast to the others
// after initialisation or restore.
type Replicas struct {
	// Rank is this worker's index in Tasks; Tasks lists every worker.
	Rank  int
	Tasks []tfgraph.TaskAddr
	// CollectiveTimeout bounds every step's all-reduce, BarrierTimeout the
	// wait for all workers at the start and while the chief checkpoints or
	// runs the kNN monitor (seconds).
	CollectiveTimeout, BarrierTimeout float64
	// Hint is the collective implementation: "ring" on CPUs, "nccl" on GPUs.
	Hint string
	// Target is the session target of this worker's own TF server
	// ("grpc://localhost:port"); the config's runtime.target is not used.
	Target string
}

// Size is the number of workers.
func (r *Replicas) Size() int { return len(r.Tasks) }

// Chief reports whether this worker is rank 0.
func (r *Replicas) Chief() bool { return r.Rank == 0 }

// Device is this worker's device prefix ("/job:worker/replica:0/task:1").
func (r *Replicas) Device() string { return r.Tasks[r.Rank].Device() }

func (r *Replicas) group() tfgraph.Group {
	return tfgraph.Group{Size: int32(r.Size()), Key: collectiveGroupKey, Hint: r.Hint}
}

// Collective keys: every worker builds the same collectives with these
// keys, and reuses them in every Session.Run.
const (
	collectiveGroupKey = 1
	instanceBroadcast  = 1
	instanceBarrier    = 2
	// instanceConfig and instanceConfigVotes carry the chief's agreed
	// config and the count of workers whose config differs (agree.go),
	// before the broadcast.
	instanceConfig      = 3
	instanceConfigVotes = 4
	instanceGradients   = 100 // + pack index
	// instanceSyncBN is the key of the first synchronised BatchNorm
	// (model.sync_bn), one more for each; their gradients add 2^20.
	instanceSyncBN = 1000
)

// maxPackElements bounds one all-reduce buffer (32 MiB of float32): the
// gradients are concatenated into as few buffers as fit.
const maxPackElements = 8 << 20

// replicate all-reduces (averages) the step's gradients, the BatchNorm
// moving statistics of bn, the loss and the collapse monitor, packed into
// few flat buffers, and replaces them in st with the averages. The buffers
// run one after the other (control dependencies), so every worker issues
// its collectives in the same order.
func (st *Step) replicate(s *tfgraph.Scope, r *Replicas, bn *tfgraph.Updates) error {
	st.LocalGrads, st.LocalLoss = st.Grads, st.Loss
	st.Stop = s.PlaceholderWithDefault("stop", s.Const("no_stop", float32(0)), []int64{})
	bnVars := bn.Variables()
	var items []packItem
	for i, gr := range st.Grads {
		items = append(items, packItem{gr, st.Trainable[i].Dims})
	}
	for _, v := range bnVars {
		items = append(items, packItem{bn.Value(v), v.Dims})
	}
	items = append(items, packItem{st.Loss, nil}, packItem{st.ZStd, nil}, packItem{st.Stop, nil})
	packs := packInto(items, maxPackElements)
	var reduced []Output
	var prev *tfgraph.Operation
	for i, pk := range packs {
		ps := s.Child(fmt.Sprintf("pack%d", i))
		if prev != nil {
			ps = ps.WithControl(prev)
		}
		xs := make([]Output, len(pk))
		shapes := make([][]int64, len(pk))
		for j, it := range pk {
			xs[j], shapes[j] = it.x, it.dims
		}
		in := ps.Pack1D(xs)
		avg := ps.AllReduce("mean", in, r.group(), instanceGradients+int32(i), "Div", float32(r.CollectiveTimeout))
		st.packIn, st.packOut = append(st.packIn, in), append(st.packOut, avg)
		if err := s.Err(); err != nil {
			return err
		}
		prev = avg.Op
		reduced = append(reduced, ps.Unpack1D(avg, shapes)...)
	}
	if err := s.Err(); err != nil {
		return fmt.Errorf("all-reduce of the gradients: %w", err)
	}
	ng := len(st.Grads)
	st.Grads = reduced[:ng]
	for i, v := range bnVars {
		bn.Set(v, reduced[ng+i])
	}
	rest := reduced[ng+len(bnVars):]
	st.Loss = s.Identity("loss", rest[0])
	st.ZStd = s.Identity("z_std", rest[1])
	st.AnyStop = s.Identity("any_stop", s.Less(s.Const("zero", float32(0)), rest[2]))
	return s.Err()
}

// packItem is one tensor of an all-reduce buffer and its shape.
type packItem struct {
	x    Output
	dims []int64
}

// packInto groups items, in order, into buffers of at most limit elements
// (an item larger than limit gets a buffer of its own).
func packInto(items []packItem, limit int64) [][]packItem {
	var packs [][]packItem
	var n int64
	for _, it := range items {
		size := int64(1)
		for _, d := range it.dims {
			size *= d
		}
		if len(packs) == 0 || (n+size > limit && n > 0) {
			packs = append(packs, nil)
			n = 0
		}
		packs[len(packs)-1] = append(packs[len(packs)-1], it)
		n += size
	}
	return packs
}

// broadcast builds st.Sync: every variable takes the chief's value. The
// chief contributes its values and the others zeros to one float64 sum
// all-reduce (x + 0 is exact, and int64 counters below 2^53 are exact in
// float64), so every worker ends with the chief's bits. The chief's count
// of skipped non-finite steps (st.SkipsIn, read from its metrics.jsonl on
// a resume) rides along as the last element. It is the first collective
// of a run and so also its start barrier: it waits up to the barrier
// timeout for the late workers.
func (st *Step) broadcast(s *tfgraph.Scope, r *Replicas) error {
	vars := st.Graph.Variables()
	xs := make([]Output, len(vars), len(vars)+1)
	shapes := make([][]int64, len(vars), len(vars)+1)
	for i, v := range vars {
		xs[i] = s.Cast(v.Read(), tfgraph.Double)
		shapes[i] = v.Dims
	}
	st.SkipsIn = s.PlaceholderWithDefault("skips", s.Const("no_skips", float64(0)), []int64{})
	xs = append(xs, st.SkipsIn)
	shapes = append(shapes, []int64{})
	pack := s.Pack1D(xs)
	if !r.Chief() {
		pack = s.ZerosLike(pack)
	}
	sum := s.AllReduce("sum", pack, r.group(), instanceBroadcast, "Id", float32(r.BarrierTimeout))
	vals := s.Unpack1D(sum, shapes)
	st.SkipsOut = s.Identity("skips_synced", vals[len(vars)])
	ops := make([]*tfgraph.Operation, len(vars))
	for i, v := range vars {
		ops[i] = v.AssignOp(s, v.Key, s.Cast(vals[i], v.DType))
	}
	st.Sync = s.Group("sync", ops...)
	// The config check: a vector of fixed length, whatever the config, so
	// workers whose configs differ in shapes still compare them.
	cs := s.Child("config_check")
	st.ConfigIn = cs.Placeholder("config", tfgraph.Double, []int64{configCheckLen})
	in := st.ConfigIn
	if !r.Chief() {
		in = cs.ZerosLike(in)
	}
	st.ConfigOut = cs.AllReduce("chief", in, r.group(), instanceConfig, "Id", float32(r.BarrierTimeout))
	st.VotesIn = cs.PlaceholderWithDefault("differs", cs.Const("agrees", float64(0)), []int64{})
	st.VotesOut = cs.AllReduce("votes", st.VotesIn, r.group(), instanceConfigVotes, "Id", float32(r.BarrierTimeout))
	bs := s.Child("barrier")
	st.Barrier = bs.AllReduce("wait", bs.Const("one", []float32{1}), r.group(), instanceBarrier, "Id", float32(r.BarrierTimeout))
	return s.Err()
}

// CollectiveError is a failed all-reduce between the workers: a worker
// died, hangs or did not start within the timeout. TensorFlow requires a
// process whose collective was aborted to restart.
type CollectiveError struct {
	Rank    int
	What    string  // "the start barrier", "step 12"
	Timeout float64 // seconds
	Key     string  // the config key of the timeout
	// Unreachable lists the workers whose TF server refused a connection.
	Unreachable []tfgraph.TaskAddr
	Err         error
}

func (e *CollectiveError) Error() string {
	var who string
	if len(e.Unreachable) > 0 {
		names := make([]string, len(e.Unreachable))
		for i, t := range e.Unreachable {
			names[i] = t.String()
		}
		who = strings.Join(names, ", ") + " is not reachable (stopped or died); "
	} else {
		who = fmt.Sprintf("no answer within %s=%g s; ", e.Key, e.Timeout)
	}
	// One line: TensorFlow's message spans several.
	msg := strings.Join(strings.Fields(e.Err.Error()), " ")
	if len(msg) > 400 {
		msg = msg[:400] + "..."
	}
	return fmt.Sprintf("worker %d: %s: the all-reduce with the other workers failed: %sTensorFlow: %s", e.Rank, e.What, who, msg)
}

func (e *CollectiveError) Unwrap() error { return e.Err }

// collectiveError wraps err from a collective run in a CollectiveError
// naming the workers whose server no longer accepts connections.
func (r *Replicas) collectiveError(what string, barrier bool, err error) error {
	if err == nil {
		return nil
	}
	ce := &CollectiveError{Rank: r.Rank, What: what, Timeout: r.CollectiveTimeout, Key: "runtime.collective_timeout_s", Err: err}
	if barrier {
		ce.Timeout, ce.Key = r.BarrierTimeout, "runtime.barrier_timeout_s"
	}
	for i, t := range r.Tasks {
		if i == r.Rank {
			continue
		}
		c, derr := net.DialTimeout("tcp", t.Addr, 2*time.Second)
		if derr != nil {
			ce.Unreachable = append(ce.Unreachable, t)
			continue
		}
		c.Close()
	}
	return ce
}

// watch runs f (a Session.Run with collectives) while probing the other
// workers' TF servers every 2 s. When one refuses connections three probes
// in a row, watch returns a CollectiveError naming it without waiting for
// f: a collective whose peer died before sending can wait its whole
// timeout (seen here at the barrier after a checkpoint). f keeps running
// in the background; the caller must not use the session again and
// should exit.
func (r *Replicas) watch(what string, barrier bool, f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	fails := make([]int, len(r.Tasks))
	for {
		select {
		case err := <-done:
			return r.collectiveError(what, barrier, err)
		case <-tick.C:
			for i, t := range r.Tasks {
				if i == r.Rank {
					continue
				}
				c, err := net.DialTimeout("tcp", t.Addr, 2*time.Second)
				if err != nil {
					if fails[i]++; fails[i] >= 3 {
						return &CollectiveError{Rank: r.Rank, What: what, Unreachable: []tfgraph.TaskAddr{t},
							Err: fmt.Errorf("its TF server refused %d connections in a row while this worker waited in the all-reduce: %w", fails[i], err)}
					}
					continue
				}
				c.Close()
				fails[i] = 0
			}
		}
	}
}

// IsCollectiveError reports whether err is a failed all-reduce between
// workers.
func IsCollectiveError(err error) bool {
	var ce *CollectiveError
	return errors.As(err, &ce)
}
