package model

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/internal/testutil"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// TestCheckedRestore: the record is checked before the shapes, a
// record-less checkpoint's note goes to Log, a shape mismatch carries the
// hint, and only a checkpoint that passes both is restored (the variable
// takes the saved value).
func TestCheckedRestore(t *testing.T) {
	base := configs.Default()
	base.Model.Arch = "resnet50"
	withRecord, noRecord := saveRecord(t, &base), saveRecord(t, nil)
	other := base
	other.Model.Arch = "resnet34"
	for _, tc := range []struct {
		name     string
		prefix   string
		cfg      *configs.Config
		dims     []int64
		wantErr  string // "" for a restore
		wantNote bool
	}{
		{"matching", withRecord, &base, []int64{1}, "", false},
		{"no record: a note", noRecord, &base, []int64{1}, "", true},
		{"no config: no record check", withRecord, nil, []int64{1}, "", false},
		{"another model's record", withRecord, &other, []int64{1}, "model.arch: checkpoint resnet50, config resnet34", false},
		{"record before shapes", withRecord, &other, []int64{2}, "model.arch: checkpoint resnet50, config resnet34", false},
		{"another shape", withRecord, &base, []int64{2}, "HINT: ", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := tfgraph.NewGraph()
			v := g.Root().Child("encoder/conv1").Var("kernel", tc.dims, tfgraph.Fill(7), 0)
			sv := tfgraph.NewSaver(g, "restore", []*tfgraph.Variable{v})
			sess := testutil.Session(t, g, g.InitOp("init"))
			var log bytes.Buffer
			c := CheckedRestore{Config: tc.cfg, Keys: EncoderKeys, Vars: []*tfgraph.Variable{v}, Log: &log, Hint: "HINT"}
			err := c.Restore(sess, sv, tc.prefix)
			if got := strings.Contains(log.String(), "records no model config"); got != tc.wantNote {
				t.Errorf("note logged %v, want %v: %q", got, tc.wantNote, log.String())
			}
			out, rerr := sess.Run(nil, []tfgraph.Output{v.Read()})
			if rerr != nil {
				t.Fatal(rerr)
			}
			val := out[0].Value().([]float32)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tc.wantErr)
				}
				var ie *tfgraph.IncompatibleError
				if tc.wantErr == "HINT: " && !errors.As(err, &ie) {
					t.Errorf("shape error %v does not wrap an IncompatibleError", err)
				}
				if val[0] != 7 {
					t.Errorf("a refused checkpoint was restored: %v", val)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if val[0] != 0 {
				t.Errorf("restored value %v, want the checkpoint's 0", val)
			}
		})
	}
}
