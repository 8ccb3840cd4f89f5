package model

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/internal/testutil"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// saveRecord writes a checkpoint of one variable with cfg's record (none
// when cfg is nil, like a checkpoint of an older version).
func saveRecord(t *testing.T, cfg *configs.Config) string {
	t.Helper()
	g := tfgraph.NewGraph()
	v := g.Root().Child("encoder/conv1").Var("kernel", []int64{1}, tfgraph.Zeros(), 0)
	var extra []tfgraph.Entry
	if cfg != nil {
		extra = append(extra, RecordEntry(g.Root().Child("simsiam").OnHost(), cfg))
	}
	prefix := filepath.Join(t.TempDir(), "ckpt-1")
	testutil.SaveCheckpoint(t, g, []*tfgraph.Variable{v}, prefix, extra...)
	return prefix
}

func TestCheckRecord(t *testing.T) {
	base := configs.Default()
	base.Model.Arch, base.Model.ProjLayers, base.Model.BNEps = "resnet34", 3, 1e-5
	prefix := saveRecord(t, &base)
	raw, found, err := tfgraph.ReadCheckpointString(prefix, ConfigKey)
	if err != nil || !found || raw != RecordJSON(&base) || !strings.Contains(raw, `"model.arch":"resnet34"`) {
		t.Fatalf("stored record %q found %v err %v", raw, found, err)
	}
	for _, tc := range []struct {
		name  string
		set   func(c *configs.Config)
		keys  []string
		diffs []string
	}{
		{"same", func(c *configs.Config) {}, RecordKeys, nil},
		{"arch and projector", func(c *configs.Config) { c.Model.Arch, c.Model.ProjLayers = "resnet18", 2 }, RecordKeys,
			[]string{"model.arch: checkpoint resnet34, config resnet18", "model.proj_layers: checkpoint 3, config 2"}},
		{"projector ignored by the encoder keys", func(c *configs.Config) { c.Model.ProjLayers = 2 }, EncoderKeys, nil},
		{"float and channels", func(c *configs.Config) { c.Model.BNEps, c.Data.Channels = 1e-3, 1 }, EncoderKeys,
			[]string{"data.channels: checkpoint 3, config 1", "model.bn_eps: checkpoint 0.00001, config 0.001"}},
		{"training-only keys are not compared", func(c *configs.Config) { c.Model.BNMomentum, c.Optim.BaseLR = 0.5, 9 }, RecordKeys, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.set(&c)
			note, err := CheckRecord(prefix, &c, tc.keys)
			if note != "" {
				t.Errorf("note %q for a checkpoint with a record", note)
			}
			var me *ConfigMismatchError
			if tc.diffs == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.As(err, &me) || strings.Join(me.Diffs, "|") != strings.Join(tc.diffs, "|") {
				t.Fatalf("got %v, want the differences %q", err, tc.diffs)
			}
			if !strings.Contains(err.Error(), prefix) {
				t.Errorf("error does not name the checkpoint: %v", err)
			}
		})
	}
	// A checkpoint written before records existed still loads, with a note.
	old := saveRecord(t, nil)
	note, err := CheckRecord(old, &base, RecordKeys)
	if err != nil || !strings.Contains(note, "records no model config") {
		t.Errorf("old checkpoint: note %q err %v", note, err)
	}
}

func TestRunRecord(t *testing.T) {
	for _, tc := range []struct {
		name   string
		record string // "" writes none
		want   map[string]string
		err    string
	}{
		{"record", `{"seed":"7","optim.batch_size":"32"}`, map[string]string{"seed": "7", "optim.batch_size": "32"}, ""},
		{"none (an older checkpoint)", "", nil, ""},
		{"not an object of strings", `{"seed":7}`, nil, "not a JSON object of strings"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := tfgraph.NewGraph()
			v := g.Root().Child("encoder/conv1").Var("kernel", []int64{1}, tfgraph.Zeros(), 0)
			var extra []tfgraph.Entry
			if tc.record != "" {
				extra = append(extra, RunRecordEntry(g.Root().Child("simsiam").OnHost(), tc.record))
			}
			prefix := filepath.Join(t.TempDir(), "ckpt-1")
			testutil.SaveCheckpoint(t, g, []*tfgraph.Variable{v}, prefix, extra...)
			got, found, err := ReadRunRecord(prefix)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !found {
					t.Fatalf("got %v found %v err %v, want an error with %q", got, found, err, tc.err)
				}
				return
			}
			if err != nil || found != (tc.record != "") || len(got) != len(tc.want) {
				t.Fatalf("got %v found %v err %v, want %v", got, found, err, tc.want)
			}
			for k, w := range tc.want {
				if got[k] != w {
					t.Errorf("%s = %q, want %q", k, got[k], w)
				}
			}
		})
	}
}

// TestCheckRecordMethod checks the method in the record: SimSiam's record
// leaves it out (its checkpoints are as before methods existed), another
// method's records it, and a checkpoint of one method is refused for a
// config of another, either way, naming method.name.
func TestCheckRecordMethod(t *testing.T) {
	simsiam := configs.Default()
	simclr := configs.Default()
	simclr.Method.Name = "simclr"
	if raw := RecordJSON(&simsiam); strings.Contains(raw, "method.name") {
		t.Errorf("SimSiam's record %s names the method", raw)
	}
	if raw := RecordJSON(&simclr); !strings.Contains(raw, `"method.name":"simclr"`) {
		t.Errorf("SimCLR's record %s does not name the method", raw)
	}
	pSimSiam, pSimCLR := saveRecord(t, &simsiam), saveRecord(t, &simclr)
	for _, tc := range []struct {
		name   string
		prefix string
		cfg    *configs.Config
		diff   string
	}{
		{"simsiam checkpoint, simsiam config", pSimSiam, &simsiam, ""},
		{"simclr checkpoint, simclr config", pSimCLR, &simclr, ""},
		{"simsiam checkpoint, simclr config", pSimSiam, &simclr, "method.name: checkpoint simsiam, config simclr"},
		{"simclr checkpoint, simsiam config", pSimCLR, &simsiam, "method.name: checkpoint simclr, config simsiam"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CheckRecord(tc.prefix, tc.cfg, RecordKeys)
			var me *ConfigMismatchError
			if tc.diff == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.As(err, &me) || strings.Join(me.Diffs, "|") != tc.diff {
				t.Fatalf("got %v, want the difference %q", err, tc.diff)
			}
		})
		// The encoder alone is every method's: kNN and linear evaluation
		// of any method's checkpoint take any method's config.
		if _, err := CheckRecord(tc.prefix, tc.cfg, EncoderKeys); err != nil {
			t.Errorf("%s, encoder keys: %v", tc.name, err)
		}
	}
}
