package runfolder

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
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

// TestLayout: the names a run folder's users, TensorBoard and Python see.
// They are written out here on purpose: changing one breaks every
// existing run folder.
func TestLayout(t *testing.T) {
	d := Dir(filepath.Join("runs", "x"))
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600))
	for _, tc := range []struct{ got, want string }{
		{d.Checkpoints(), "runs/x/checkpoints"},
		{d.Metrics(), "runs/x/metrics.jsonl"},
		{d.SavedModel(), "runs/x/saved_model"},
		{d.Linear(), "runs/x/linear"},
		{d.LinearSavedModel(), "runs/x/linear/saved_model"},
		{d.Logs(), "runs/x/logs"},
		{d.Config(), "runs/x/config.yaml"},
		{d.History(), "runs/x/config-history.jsonl"},
		{d.ResumeConfig(3), "runs/x/config.resume-3.yaml"},
		{d.LockFile(), "runs/x/.lock"},
		{d.Replaced(at), "runs/x/.replaced-20260102T020405Z"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %s, want %s", tc.got, tc.want)
		}
	}
	if got, want := Artifacts(), []string{"checkpoints", "config.yaml", "config-history.jsonl", "config.resume-*.yaml", "metrics.jsonl", "saved_model", "logs", "linear"}; !slices.Equal(got, want) {
		t.Errorf("Artifacts() = %v, want %v", got, want)
	}
	if got, want := SavedModels(), []string{"saved_model", "linear/saved_model"}; !slices.Equal(got, want) {
		t.Errorf("SavedModels() = %v, want %v", got, want)
	}
	if got, want := LeftoverPatterns(), []string{"checkpoints/.tmp-*", ".tmp-config*.yaml-*", ".tmp-metrics.jsonl-*", ".tmp-preflight-*", "linear/.tmp-*"}; !slices.Equal(got, want) {
		t.Errorf("LeftoverPatterns() = %v, want %v", got, want)
	}
}

// TestLayoutOnDisk writes a file at every path of a folder and checks
// what FindArtifacts and IsRun see, in the order a refusal names them.
func TestLayoutOnDisk(t *testing.T) {
	d := Dir(t.TempDir())
	if d.IsRun() {
		t.Fatal("an empty folder is a run folder")
	}
	for _, p := range []string{filepath.Join(d.Checkpoints(), "ckpt-2.index"), d.Metrics(), filepath.Join(d.SavedModel(), "saved_model.pb"),
		filepath.Join(d.LinearSavedModel(), "saved_model.pb"), filepath.Join(d.Logs(), "events.out.tfevents.1"), d.Config(), d.History(),
		d.ResumeConfig(1), d.ResumeConfig(2), filepath.Join(string(d), "notes.txt")} {
		writeFile(t, p, "x")
	}
	found, err := d.FindArtifacts()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"checkpoints/", "config.yaml", "config-history.jsonl", "config.resume-1.yaml", "config.resume-2.yaml", "metrics.jsonl", "saved_model/", "logs/", "linear/"}
	if !slices.Equal(found, want) {
		t.Errorf("FindArtifacts() = %v, want %v", found, want)
	}
	if !d.IsRun() {
		t.Error("IsRun() = false with a run's files")
	}
	if got, want := d.EffectiveConfig(), filepath.Join(string(d), "config.resume-2.yaml"); got != want {
		t.Errorf("EffectiveConfig() = %s, want %s", got, want)
	}
	if got, want := d.NextResumeConfig(), filepath.Join(string(d), "config.resume-3.yaml"); got != want {
		t.Errorf("NextResumeConfig() = %s, want %s", got, want)
	}
}

func TestEffectiveConfig(t *testing.T) {
	for _, tc := range []struct {
		name          string
		files         []string
		want, wantNew string
	}{
		{"none", nil, "config.yaml", "config.resume-1.yaml"},
		{"first run", []string{"config.yaml"}, "config.yaml", "config.resume-1.yaml"},
		{"two resumes", []string{"config.yaml", "config.resume-1.yaml", "config.resume-2.yaml"}, "config.resume-2.yaml", "config.resume-3.yaml"},
		{"a gap ends the count", []string{"config.yaml", "config.resume-1.yaml", "config.resume-3.yaml"}, "config.resume-1.yaml", "config.resume-2.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Dir(t.TempDir())
			for _, f := range tc.files {
				writeFile(t, filepath.Join(string(d), f), "x")
			}
			if got := filepath.Base(d.EffectiveConfig()); got != tc.want {
				t.Errorf("EffectiveConfig() = %s, want %s", got, tc.want)
			}
			if got := filepath.Base(d.NextResumeConfig()); got != tc.wantNew {
				t.Errorf("NextResumeConfig() = %s, want %s", got, tc.wantNew)
			}
		})
	}
}

// TestMoveAside: the artifacts go into .replaced-TIME, a second move at
// the same time into .replaced-TIME-2; other files stay.
func TestMoveAside(t *testing.T) {
	d := Dir(t.TempDir())
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	var asides []string
	for i := 0; i < 2; i++ {
		writeFile(t, filepath.Join(d.Checkpoints(), "ckpt-1.index"), "x")
		writeFile(t, d.Config(), "cfg")
		writeFile(t, filepath.Join(string(d), "notes.txt"), "keep")
		found, err := d.FindArtifacts()
		if err != nil {
			t.Fatal(err)
		}
		aside, err := d.MoveAside(found, now)
		if err != nil {
			t.Fatal(err)
		}
		asides = append(asides, aside)
		for _, name := range found {
			name = strings.TrimSuffix(name, "/")
			if _, err := os.Stat(filepath.Join(string(d), name)); err == nil {
				t.Errorf("%s is still in the folder", name)
			}
			if _, err := os.Stat(filepath.Join(aside, name)); err != nil {
				t.Errorf("%s is not in %s: %v", name, aside, err)
			}
		}
		if b, _ := os.ReadFile(filepath.Join(aside, ConfigName)); string(b) != "cfg" {
			t.Errorf("moved config.yaml holds %q", b)
		}
		if _, err := os.Stat(filepath.Join(string(d), "notes.txt")); err != nil {
			t.Errorf("notes.txt was moved: %v", err)
		}
	}
	base := filepath.Join(string(d), ".replaced-20260506T070809Z")
	if want := []string{base, base + "-2"}; !slices.Equal(asides, want) {
		t.Errorf("moved into %v, want %v", asides, want)
	}
	if d.IsRun() {
		t.Error("IsRun() = true with every artifact moved aside (notes.txt and .replaced-* are no run's files)")
	}
}
