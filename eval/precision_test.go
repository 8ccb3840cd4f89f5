package eval

import (
	"errors"
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/internal/bf16probe"
	"github.com/simsiam-go/simsiam/internal/sysinfo"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// TestPrecisionFor: auto picks bf16 only when oneDNN is on and bf16
// measured clearly faster (whatever the CPU's flags say: the Xeon below has
// AVX512-BF16 and measured slower); explicit values are kept without a
// probe, and forced bf16 on CPUs without bfloat16 hardware says it is
// emulated.
func TestPrecisionFor(t *testing.T) {
	avx2 := sysinfo.CPU{Model: "AMD EPYC 7B13", Vector: []string{"avx", "avx2", "fma"}}
	amx := sysinfo.CPU{Model: "Xeon 8481C", Vector: []string{"avx512f", "avx512_bf16", "amx_bf16"}}
	xeon := sysinfo.CPU{Model: "Xeon without AMX", Vector: []string{"avx512f", "avx512_bf16", "avx512_fp16"}}
	for _, tc := range []struct {
		name, precision string
		onednnCfg       bool
		onednn          bool
		cpu             sysinfo.CPU
		speedup         float64 // the probe's answer; 0: the probe fails
		want            tfgraph.Precision
		why             string
		probes          int
	}{
		{"auto, bf16 measured faster", "auto", true, true, amx, 1.51, tfgraph.PrecisionBF16, "bf16 measured 1.51×", 1},
		{"auto, bf16 measured slower on bf16 hardware", "auto", true, true, xeon, 0.91, tfgraph.PrecisionFP32, "bf16 measured 0.91× fp32 (", 1},
		{"auto, bf16 only a little faster", "auto", true, true, amx, 1.05, tfgraph.PrecisionFP32, "bf16 needs 1.15×", 1},
		{"auto avx2, emulated bf16 slower", "auto", true, true, avx2, 0.3, tfgraph.PrecisionFP32, "0.30×", 1},
		{"auto, probe fails", "auto", true, true, amx, 0, tfgraph.PrecisionFP32, "probe failed: no session", 1},
		{"auto, onednn off in config", "auto", false, true, amx, 1.5, tfgraph.PrecisionFP32, "oneDNN is off", 0},
		{"auto, onednn off in process", "auto", true, false, amx, 1.5, tfgraph.PrecisionFP32, "oneDNN is off", 0},
		{"forced bf16 on avx2", "bf16", true, true, avx2, 1.5, tfgraph.PrecisionBF16, "emulated", 0},
		{"forced bf16 on amx", "bf16", true, true, amx, 0.5, tfgraph.PrecisionBF16, "runtime.precision", 0},
		{"fp32 on amx", "fp32", true, true, amx, 1.5, tfgraph.PrecisionFP32, "runtime.precision", 0},
		{"fp16", "fp16", true, true, avx2, 1.5, tfgraph.PrecisionFP16, "runtime.precision", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := configs.Default().Runtime
			r.Precision, r.OneDNN = tc.precision, tc.onednnCfg
			probes := 0
			probe := func() (bf16probe.Result, error) {
				probes++
				if tc.speedup == 0 {
					return bf16probe.Result{}, errors.New("no session")
				}
				return bf16probe.Result{Speedup: tc.speedup, FP32Millis: 10, BF16Millis: 10 / tc.speedup}, nil
			}
			got, why := precisionFor(r, tc.cpu, tc.onednn, probe)
			if got != tc.want || !strings.Contains(why, tc.why) {
				t.Errorf("got %s (%s), want %s (%s)", got, why, tc.want, tc.why)
			}
			if probes != tc.probes {
				t.Errorf("probed %d times, want %d", probes, tc.probes)
			}
		})
	}
}
