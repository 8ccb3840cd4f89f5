package train

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/export"
	"github.com/simsiam-go/simsiam/internal/testutil"
	"github.com/simsiam-go/simsiam/runfolder"
	"github.com/simsiam-go/simsiam/tfgraph"
	evpb "github.com/wamuir/graft/tensorflow/core/util/event_go_proto"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// metricsSteps counts the records of each step in a metrics file that
// carry the given key.
func metricsSteps(t *testing.T, path, key string) map[int64]int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := map[int64]int{}
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("%s: line %q: %v", path, line, err)
		}
		if _, ok := rec[key]; ok {
			n[int64(rec["step"].(float64))]++
		}
	}
	return n
}

func TestTrimMetrics(t *testing.T) {
	const r1, r2, r3 = `{"step":1,"loss":0.5}` + "\n", `{"step":2,"loss":0.4}` + "\n", `{"step":3,"loss":0.3}` + "\n"
	for _, tc := range []struct {
		name, in, want        string
		dropped, unreadable   int
		missing, wantRewrites bool
	}{
		{name: "missing file", missing: true},
		{name: "nothing after the step", in: r1 + r2, want: r1 + r2},
		{name: "later records dropped", in: r1 + r2 + r3 + `{"step":4,"knn_top1":0.1}` + "\n", want: r1 + r2, dropped: 2, wantRewrites: true},
		{name: "torn last line", in: r1 + r2 + `{"step":3,"lo`, want: r1 + r2, unreadable: 1, wantRewrites: true},
		{name: "last record without newline", in: r1 + strings.TrimSuffix(r2, "\n"), want: r1 + r2, wantRewrites: true},
		{name: "garbage line", in: r1 + "not json\n" + r2, want: r1 + r2, unreadable: 1, wantRewrites: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := runfolder.Dir(t.TempDir()).Metrics()
			if !tc.missing {
				writeFile(t, path, tc.in)
			}
			before, _ := os.Stat(path)
			dropped, unreadable, err := trimMetrics(path, 2)
			if err != nil {
				t.Fatal(err)
			}
			if dropped != tc.dropped || unreadable != tc.unreadable {
				t.Errorf("dropped %d, unreadable %d; want %d, %d", dropped, unreadable, tc.dropped, tc.unreadable)
			}
			if tc.missing {
				if exists(path) {
					t.Error("trimMetrics created a missing file")
				}
				return
			}
			got, _ := os.ReadFile(path)
			if string(got) != tc.want {
				t.Errorf("file now\n%s\nwant\n%s", got, tc.want)
			}
			after, _ := os.Stat(path)
			if rewritten := !os.SameFile(before, after); rewritten != tc.wantRewrites {
				t.Errorf("rewritten (new inode) = %v, want %v", rewritten, tc.wantRewrites)
			}
			if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
				t.Errorf("files left beside metrics.jsonl: %v", ents)
			}
		})
	}
}

func TestRemoveLeftovers(t *testing.T) {
	dir := t.TempDir()
	leftovers := []string{
		"checkpoints/.tmp-ckpt-8-123/ckpt-8.index",
		"checkpoints/.tmp-checkpoint-456",
		".tmp-config.yaml-789",
		".tmp-metrics.jsonl-1",
		"saved_model.tmp-2/saved_model.pb",
		"saved_model.old-3/saved_model.pb",
		".tmp-config.resume-2.yaml-7",
		".tmp-preflight-9",
		// linear-eval holds the folder's lock too: what it left is removed.
		"linear/saved_model.tmp-4/x",
		"linear/.tmp-ckpt-2-5/ckpt-2.index",
	}
	kept := []string{
		"checkpoints/ckpt-6.index", "checkpoints/ckpt-6.data-00000-of-00001", "checkpoints/checkpoint",
		"config.yaml", "config.resume-1.yaml", "config-history.jsonl", "metrics.jsonl", "saved_model/saved_model.pb",
		"linear/ckpt-2.index", "linear/saved_model/saved_model.pb", ".lock",
	}
	for _, p := range append(leftovers, kept...) {
		writeFile(t, filepath.Join(dir, p), "x")
	}
	removed, restored, err := removeLeftovers(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(restored) != 0 {
		t.Errorf("restored %v with saved_model/ in place", restored)
	}
	if len(removed) != len(leftovers) {
		t.Errorf("removed %v, want the %d leftovers", removed, len(leftovers))
	}
	for _, p := range leftovers {
		if top := strings.SplitN(p, "/", 2)[0]; top != "checkpoints" && top != "linear" && exists(filepath.Join(dir, top)) {
			t.Errorf("%s is still there", top)
		}
		if exists(filepath.Join(dir, p)) {
			t.Errorf("%s is still there", p)
		}
	}
	for _, p := range kept {
		if !exists(filepath.Join(dir, p)) {
			t.Errorf("%s was removed", p)
		}
	}
}

// TestFreshRunRefusesUsedOutputDir: a run without Resume refuses a folder
// holding any artifact of another run, naming it and both ways out, and
// changes nothing; with Force it moves them aside and trains.
func TestFreshRunRefusesUsedOutputDir(t *testing.T) {
	dataDir := t.TempDir()
	testutil.WriteRandomIDX(t, dataDir, 32, 20, 20) // 2 steps per epoch
	files := map[string]string{
		"checkpoints": "checkpoints/ckpt-2.index", "config.yaml": "config.yaml", "metrics.jsonl": "metrics.jsonl",
		"saved_model": "saved_model/saved_model.pb", "logs": "logs/events.out.tfevents.1.h.1.v2", "linear": "linear/checkpoint",
		runfolder.HistoryName: runfolder.HistoryName, "config.resume-*.yaml": "config.resume-1.yaml",
	}
	for _, name := range runfolder.Artifacts() {
		t.Run(name, func(t *testing.T) {
			cfg := testutil.RunConfig(dataDir, t.TempDir())
			writeFile(t, filepath.Join(cfg.OutputDir, files[name]), "old")
			_, err := Run(context.Background(), cfg, wired(Options{}))
			if err == nil {
				t.Fatal("no error")
			}
			shown := files[name]
			if !strings.HasSuffix(shown, ".yaml") && !strings.HasSuffix(shown, ".jsonl") {
				shown = name + "/"
			}
			for _, want := range []string{"already holds another run's files (" + shown + ")", "--resume", "--force", ".replaced-"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			ents, _ := os.ReadDir(cfg.OutputDir)
			if len(ents) != 2 { // the artifact and .lock
				t.Errorf("output_dir now holds %v", ents)
			}
			if b, _ := os.ReadFile(filepath.Join(cfg.OutputDir, files[name])); string(b) != "old" {
				t.Errorf("%s changed", files[name])
			}
		})
	}

	cfg := testutil.RunConfig(dataDir, t.TempDir())
	cfg.Optim.Epochs = 1
	for _, p := range files {
		writeFile(t, filepath.Join(cfg.OutputDir, p), "old")
	}
	writeFile(t, filepath.Join(cfg.OutputDir, "notes.txt"), "mine")
	var log bytes.Buffer
	if _, err := Run(context.Background(), cfg, wired(Options{Resume: true, Force: true})); err == nil {
		t.Error("Resume and Force together: no error")
	}
	res, err := Run(context.Background(), cfg, wired(Options{Force: true, Log: &log}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 2 || !exists(filepath.Join(runfolder.Dir(cfg.OutputDir).SavedModel(), "saved_model.pb")) {
		t.Errorf("forced run: steps %d, SavedModel %q", res.Steps, res.SavedModel)
	}
	aside, _ := filepath.Glob(filepath.Join(cfg.OutputDir, ".replaced-*"))
	if len(aside) != 1 {
		t.Fatalf("folders moved aside: %v", aside)
	}
	for _, p := range files {
		if b, err := os.ReadFile(filepath.Join(aside[0], p)); err != nil || string(b) != "old" {
			t.Errorf("%s not kept in %s: %v", p, aside[0], err)
		}
	}
	if exists(runfolder.Dir(cfg.OutputDir).Linear()) || !exists(filepath.Join(cfg.OutputDir, "notes.txt")) {
		t.Error("--force: linear/ should be moved aside and notes.txt (not a run's file) left")
	}
	if !strings.Contains(log.String(), "--force: moved checkpoints/, config.yaml, config-history.jsonl, config.resume-1.yaml, metrics.jsonl, saved_model/, logs/, linear/ into "+aside[0]) {
		t.Errorf("log does not say what was moved:\n%s", log.String())
	}
	if pid, _ := os.ReadFile(runfolder.Dir(cfg.OutputDir).LockFile()); len(pid) != 0 {
		t.Errorf("lock file after the run holds %q, want it empty", pid)
	}
}

// TestResumeEdgeCases: --resume without a checkpoint trains from step 0;
// resuming a complete run trains nothing and exports a missing SavedModel;
// a resumed run drops the metrics records after its checkpoint and the
// temporary files of a killed checkpoint write.
func TestResumeEdgeCases(t *testing.T) {
	dataDir := t.TempDir()
	testutil.WriteRandomIDX(t, dataDir, 32, 20, 20) // 2 steps per epoch
	ctx := context.Background()
	cfg := testutil.RunConfig(dataDir, filepath.Join(t.TempDir(), "run"))
	var log bytes.Buffer
	res, err := Run(ctx, cfg, wired(Options{Resume: true, Log: &log, StopAfter: 3}))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "--resume: no checkpoint in "+runfolder.Dir(cfg.OutputDir).Checkpoints()+", starting from step 0") || res.Steps != 3 {
		t.Fatalf("resume without a checkpoint: step %d, log:\n%s", res.Steps, log.String())
	}
	// A process killed after logging steps 4 and 5 (and while writing a
	// checkpoint and a record) leaves these behind the step-3 checkpoint.
	mpath := runfolder.Dir(cfg.OutputDir).Metrics()
	f, err := os.OpenFile(mpath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"step":4,"loss":9}` + "\n" + `{"step":5,"loss":9}` + "\n" + `{"step":6,"lo`)
	f.Close()
	tmp := filepath.Join(runfolder.Dir(cfg.OutputDir).Checkpoints(), ".tmp-ckpt-6-42")
	writeFile(t, filepath.Join(tmp, "ckpt-6.index"), "torn")

	log.Reset()
	res, err = Run(ctx, cfg, wired(Options{Resume: true, Log: &log}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 6 || res.AlreadyComplete {
		t.Fatalf("resumed run: step %d, already complete %v", res.Steps, res.AlreadyComplete)
	}
	for _, want := range []string{"removed temporary files of an interrupted write in " + cfg.OutputDir + ": checkpoints/.tmp-ckpt-6-42",
		"metrics.jsonl: dropped 2 records after step 3 and 1 unreadable lines"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log does not say %q:\n%s", want, log.String())
		}
	}
	if exists(tmp) {
		t.Error("the checkpoint's temporary folder is still there")
	}
	steps := metricsSteps(t, mpath, "loss")
	for s := int64(1); s <= 6; s++ {
		if steps[s] != 1 {
			t.Errorf("metrics.jsonl: %d loss records at step %d, want 1 (%v)", steps[s], s, steps)
		}
	}
	if l := readLosses(t, mpath); l[4] == 9 || l[5] == 9 {
		t.Errorf("the stale records survived: %v", l)
	}
	// Two event files, each starting with TensorBoard's restart marker at
	// the first step its run logged again (both runs resumed).
	evFiles, _ := filepath.Glob(filepath.Join(runfolder.Dir(cfg.OutputDir).Logs(), "events.out.tfevents.*"))
	if len(evFiles) != 2 {
		t.Fatalf("event files: %v", evFiles)
	}
	starts := map[string][]int64{}
	for _, p := range evFiles {
		evs, err := tfgraph.ReadEventFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if ev.GetSessionLog().GetStatus() == evpb.SessionLog_START {
				starts[p] = append(starts[p], ev.Step)
			}
		}
	}
	if len(starts) != 2 || fmt.Sprint(starts[evFiles[0]], starts[evFiles[1]]) != "[1] [4]" {
		t.Errorf("SessionLog START events: %v, want one at step 1 in %s and one at step 4 in %s", starts, evFiles[0], evFiles[1])
	}

	// The run is complete; its final export went missing.
	if err := os.RemoveAll(runfolder.Dir(cfg.OutputDir).SavedModel()); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(mpath)
	for i, wantExport := range []bool{true, false} {
		log.Reset()
		res, err = Run(ctx, cfg, wired(Options{Resume: true, Log: &log}))
		if err != nil {
			t.Fatal(err)
		}
		if !res.AlreadyComplete || res.Steps != 6 || res.Checkpoint != filepath.Join(runfolder.Dir(cfg.OutputDir).Checkpoints(), "ckpt-6") {
			t.Errorf("resume %d of a complete run: %+v", i, res)
		}
		if !strings.Contains(log.String(), "the run is already complete (step 6 of 6): nothing to train") {
			t.Errorf("resume %d: log:\n%s", i, log.String())
		}
		if got := strings.Contains(log.String(), "saved_model/ is missing: exporting it from ckpt-6"); got != wantExport {
			t.Errorf("resume %d: export message %v, want %v:\n%s", i, got, wantExport, log.String())
		}
		if res.SavedModel == "" || !exists(filepath.Join(res.SavedModel, "saved_model.pb")) {
			t.Errorf("resume %d: no SavedModel (%q)", i, res.SavedModel)
		}
	}
	if after, _ := os.ReadFile(mpath); !bytes.Equal(before, after) {
		t.Error("resuming a complete run changed metrics.jsonl")
	}

	// A kill -9 between the two renames of a SavedModel replacement leaves
	// no saved_model/, the previous model complete in saved_model.old-* and
	// the new one in saved_model.tmp-*. The resume puts the previous model
	// back; it is the final checkpoint's, so nothing is exported, or an
	// earlier one's, so the final checkpoint is exported over it.
	sm := runfolder.Dir(cfg.OutputDir).SavedModel()
	meta := filepath.Join(sm, "assets.extra", "simsiam.json")
	for _, tc := range []struct {
		from       string // checkpoint the moved-aside model records
		wantExport bool
	}{{"ckpt-6", false}, {"ckpt-3", true}} {
		b, err := os.ReadFile(meta)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, meta, strings.ReplaceAll(string(b), "ckpt-6", tc.from))
		if err := os.Rename(sm, sm+".old-77"); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(sm+".tmp-78", "saved_model.pb"), "half")
		log.Reset()
		if res, err = Run(ctx, cfg, wired(Options{Resume: true, Log: &log})); err != nil {
			t.Fatal(err)
		}
		if want := "restored the SavedModel an interrupted export had moved aside in " + cfg.OutputDir + ": saved_model.old-77 -> saved_model"; !strings.Contains(log.String(), want) {
			t.Errorf("%s: log does not say %q:\n%s", tc.from, want, log.String())
		}
		again := strings.Contains(log.String(), "saved_model/ holds "+tc.from+", not the final ckpt-6: exporting it again")
		if again != tc.wantExport {
			t.Errorf("%s: exported again %v, want %v:\n%s", tc.from, again, tc.wantExport, log.String())
		}
		if got := exportedFrom(export.RunExporter{}, sm); got != "ckpt-6" || res.SavedModel != sm {
			t.Errorf("%s: saved_model/ exported from %q (SavedModel %q), want ckpt-6", tc.from, got, res.SavedModel)
		}
		if left, _ := filepath.Glob(sm + ".*"); len(left) != 0 {
			t.Errorf("%s: left beside saved_model/: %v", tc.from, left)
		}
	}
}

// TestRunRefusesLockedOutputDir: Run fails at once, naming the holder,
// while another run holds output_dir, and writes nothing.
func TestRunRefusesLockedOutputDir(t *testing.T) {
	dataDir := t.TempDir()
	testutil.WriteRandomIDX(t, dataDir, 32, 20, 20)
	cfg := testutil.RunConfig(dataDir, t.TempDir())
	lock, err := runfolder.Dir(cfg.OutputDir).Lock()
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	for _, o := range []Options{{}, {Resume: true}, {Force: true}} {
		_, err := Run(context.Background(), cfg, wired(o))
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("is in use: PID %d holds the lock", os.Getpid())) {
			t.Errorf("%+v: err = %v", o, err)
		}
	}
	if ents, _ := os.ReadDir(cfg.OutputDir); len(ents) != 1 {
		t.Errorf("output_dir holds %v, want only .lock", ents)
	}
}
