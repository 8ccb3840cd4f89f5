package train

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/data"
	"github.com/simsiam-go/simsiam/tfgraph"
)

func twoWorkers(rank int) *Replicas {
	return &Replicas{Rank: rank, Tasks: []tfgraph.TaskAddr{{Job: "worker", Index: 0, Addr: "localhost:1"}, {Job: "worker", Index: 1, Addr: "localhost:2"}}}
}

// TestNewCoordinator: a process alone or a one-worker job is solo; a job
// of several is replicated, with the chief at rank 0, once its config
// suits the all-reduce.
func TestNewCoordinator(t *testing.T) {
	for _, tc := range []struct {
		name      string
		o         Options
		edit      func(*configs.Config)
		chief     bool
		solo      bool
		wantError string
	}{
		{name: "alone", chief: true, solo: true},
		{name: "one worker", o: Options{Replicas: &Replicas{Tasks: twoWorkers(0).Tasks[:1]}}, chief: true, solo: true},
		{name: "rank 0", o: Options{Replicas: twoWorkers(0)}, chief: true},
		{name: "rank 1", o: Options{Replicas: twoWorkers(1)}},
		{name: "force and resume", o: Options{Force: true, Resume: true}, wantError: "give one of them"},
		{name: "one intra-op thread", o: Options{Replicas: twoWorkers(0)}, edit: func(c *configs.Config) { c.Runtime.IntraOpThreads = 1 }, wantError: "intra_op_threads 1"},
		{name: "odd batch", o: Options{Replicas: twoWorkers(1)}, edit: func(c *configs.Config) { c.Optim.BatchSize = 15 }, wantError: "multiple of the worker count"},
		{name: "last batch kept", o: Options{Replicas: twoWorkers(1)}, edit: func(c *configs.Config) { c.Data.DropLast = false }, wantError: "data.drop_last true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := configs.Default()
			cfg.Optim.BatchSize, cfg.Data.DropLast = 16, true
			if tc.edit != nil {
				tc.edit(&cfg)
			}
			co, err := newCoordinator(&cfg, tc.o)
			if tc.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantError) {
					t.Fatalf("err = %v, want one saying %q", err, tc.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, solo := co.(solo); solo != tc.solo || co.chief() != tc.chief {
				t.Errorf("%T chief %v, want solo %v chief %v", co, co.chief(), tc.solo, tc.chief)
			}
			if (co.replicas() == nil) != tc.solo {
				t.Errorf("replicas() = %v with solo %v", co.replicas(), tc.solo)
			}
		})
	}
}

// TestStopAgreement: alone, a signal stops the run after its step and cuts
// the data short; in a job, only the all-reduced stop flag stops a
// worker, and its data outlive the signal.
func TestStopAgreement(t *testing.T) {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	live := context.Background()
	rep := &replicated{rep: twoWorkers(1)}
	for _, tc := range []struct {
		name  string
		co    coordinator
		ctx   context.Context
		stats Stats
		want  bool
	}{
		{"solo, running", solo{}, live, Stats{}, false},
		{"solo, signalled", solo{}, done, Stats{}, true},
		{"replicated, signalled, no flag yet", rep, done, Stats{}, false},
		{"replicated, another worker's flag", rep, live, Stats{Stop: true}, true},
	} {
		if got := tc.co.stop(tc.ctx, tc.stats); got != tc.want {
			t.Errorf("%s: stop = %v, want %v", tc.name, got, tc.want)
		}
	}
	if solo.dataContext(solo{}, done).Err() == nil {
		t.Error("solo: the data's context is not the run's")
	}
	if rep.dataContext(done).Err() != nil {
		t.Error("replicated: a signal cancels the data's context")
	}
	var o data.PrefetchOptions
	rep.shard(&o)
	if o.Shard != 1 || o.Shards != 2 {
		t.Errorf("rank 1 of 2 shards %d of %d", o.Shard, o.Shards)
	}
	o = data.PrefetchOptions{}
	solo{}.shard(&o)
	if o.Shard != 0 || o.Shards != 0 {
		t.Errorf("solo shards %d of %d, want the whole batch", o.Shard, o.Shards)
	}
	if err := rep.barrier(nil, nil, 3, false); err != nil || rep.abandoned() {
		t.Errorf("a barrier not due ran: %v, abandoned %v", err, rep.abandoned())
	}
}

// TestWorkerFiles: a worker other than the chief writes nothing and names
// the chief's checkpoint of the step it stopped or finished at.
func TestWorkerFiles(t *testing.T) {
	dir := t.TempDir()
	w := workerFiles{ckpts: tfgraph.Checkpoints{Dir: dir}, resume: true, total: 6}
	res := &Result{Steps: 4}
	if err := w.open(res, 6); err != nil || !res.AlreadyComplete {
		t.Errorf("open at the last step: %v, already complete %v", err, res.AlreadyComplete)
	}
	ckpt, err := w.stop(res, 2)
	if err != nil || ckpt != w.ckpts.Prefix(4) {
		t.Errorf("stop: %q, %v; want %q", ckpt, err, w.ckpts.Prefix(4))
	}
	if err := w.finish(res); err != nil || res.Checkpoint != w.ckpts.Prefix(4) {
		t.Errorf("finish: %q, %v", res.Checkpoint, err)
	}
	if n, err := w.resumeSkips(3); n != 0 || err != nil {
		t.Errorf("resumeSkips = %d, %v", n, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("a worker wrote %v", ents)
	}
}

// TestPackInto: buffers fill in order up to the limit; a larger item has
// a buffer of its own.
func TestPackInto(t *testing.T) {
	items := []packItem{{dims: []int64{2, 3}}, {dims: []int64{4}}, {dims: []int64{20}}, {dims: nil}, {dims: []int64{9}}}
	var sizes []int
	for _, p := range packInto(items, 10) {
		sizes = append(sizes, len(p))
	}
	// 6+4 fill the first; 20 is alone; 1+9 fill the third.
	if want := []int{2, 1, 2}; !slices.Equal(sizes, want) {
		t.Errorf("pack sizes %v, want %v", sizes, want)
	}
}
