package tfgraph

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	evpb "github.com/wamuir/graft/tensorflow/core/util/event_go_proto"
)

func eventFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "events.out.tfevents.*"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

func TestSummaryWriterWritesEventFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "logs", "run1") // Init creates missing directories
	g := NewGraph()
	sw := NewSummaryWriter(g, dir, "loss", "train/lr")
	sess, err := NewSession(g, SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if got := sw.Tags(); len(got) != 2 || got[0] != "loss" || got[1] != "train/lr" {
		t.Fatalf("Tags() = %v", got)
	}
	if err := sw.Init(sess); err != nil {
		t.Fatal(err)
	}
	files := eventFiles(t, dir)
	if len(files) != 1 {
		t.Fatalf("after Init: event files %v, want one", files)
	}
	if !strings.HasSuffix(files[0], SummaryFileSuffix) {
		t.Errorf("event file %s does not end in %s", files[0], SummaryFileSuffix)
	}
	size0 := fileSize(t, files[0])
	for step := int64(0); step < 3; step++ {
		if err := sw.Scalars(sess, step, map[string]float32{"loss": 1 / float32(step+1), "train/lr": 0.1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := sw.Flush(sess); err != nil {
		t.Fatal(err)
	}
	size1 := fileSize(t, files[0])
	if size1 <= size0 {
		t.Fatalf("event file did not grow after 3 steps: %d -> %d bytes", size0, size1)
	}
	// A subset of the tags is fine; an unknown tag is an error naming it.
	if err := sw.Scalars(sess, 3, map[string]float32{"loss": 0.2}); err != nil {
		t.Fatal(err)
	}
	if err := sw.Scalars(sess, 3, map[string]float32{"accuracy": 1}); err == nil || !strings.Contains(err.Error(), `"accuracy"`) {
		t.Errorf("unknown tag: err = %v", err)
	}
	if err := sw.Close(sess); err != nil {
		t.Fatal(err)
	}
	if size2 := fileSize(t, files[0]); size2 <= size1 {
		t.Errorf("Close did not write the pending step-3 event: %d -> %d bytes", size1, size2)
	}
}

func TestSummaryWriterRejectsBadTags(t *testing.T) {
	for _, tags := range [][]string{{"a", "a"}, {""}} {
		g := NewGraph()
		NewSummaryWriter(g, t.TempDir(), tags...)
		if g.Err() == nil {
			t.Errorf("tags %q: no error", tags)
		}
	}
	g := NewGraph()
	NewSummaryWriter(g, "", "a")
	if g.Err() == nil {
		t.Error("empty logdir: no error")
	}
}

func TestTwoSummaryWritersInOneGraph(t *testing.T) {
	d1, d2 := t.TempDir(), t.TempDir()
	g := NewGraph()
	w1 := NewSummaryWriter(g, d1, "x")
	w2 := NewSummaryWriter(g, d2, "x")
	sess, err := NewSession(g, SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	for _, w := range []*SummaryWriter{w1, w2} {
		if err := w.Init(sess); err != nil {
			t.Fatal(err)
		}
		if err := w.Scalars(sess, 0, map[string]float32{"x": 1}); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(sess); err != nil {
			t.Fatal(err)
		}
	}
	if len(eventFiles(t, d1)) != 1 || len(eventFiles(t, d2)) != 1 {
		t.Errorf("want one event file per logdir: %v %v", eventFiles(t, d1), eventFiles(t, d2))
	}
}

// TestSummaryWriterSessionStart writes scalars and a restart marker and
// reads them back from the event file.
func TestSummaryWriterSessionStart(t *testing.T) {
	dir := t.TempDir()
	g := NewGraph()
	sw := NewSummaryWriter(g, dir, "loss")
	sess, err := NewSession(g, SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if err := sw.Init(sess); err != nil {
		t.Fatal(err)
	}
	if err := sw.SessionStart(sess, 5); err != nil {
		t.Fatal(err)
	}
	if err := sw.Scalars(sess, 5, map[string]float32{"loss": 0.25}); err != nil {
		t.Fatal(err)
	}
	if err := sw.Close(sess); err != nil {
		t.Fatal(err)
	}
	files := eventFiles(t, dir)
	if len(files) != 1 {
		t.Fatalf("event files %v", files)
	}
	evs, err := ReadEventFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	// file_version, the marker, the scalar.
	if len(evs) != 3 || evs[0].GetFileVersion() == "" {
		t.Fatalf("events: %v", evs)
	}
	if sl := evs[1].GetSessionLog(); sl == nil || sl.Status != evpb.SessionLog_START || evs[1].Step != 5 || evs[1].WallTime == 0 {
		t.Errorf("marker event: %v", evs[1])
	}
	if v := evs[2].GetSummary().GetValue(); len(v) != 1 || v[0].Tag != "loss" || v[0].GetSimpleValue() != 0.25 || evs[2].Step != 5 {
		t.Errorf("scalar event: %v", evs[2])
	}
}
