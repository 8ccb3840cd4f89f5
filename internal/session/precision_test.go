package session

import (
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/internal/sysinfo"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// TestPrecisionFor: auto picks bf16 only on bfloat16 hardware with oneDNN
// on; explicit values are kept, and forced bf16 on other CPUs says it is
// emulated.
func TestPrecisionFor(t *testing.T) {
	avx2 := sysinfo.CPU{Model: "AMD EPYC 7B13", Vector: []string{"avx", "avx2", "fma"}}
	amx := sysinfo.CPU{Model: "Xeon 8481C", Vector: []string{"avx512f", "avx512_bf16", "amx_bf16"}}
	for _, tc := range []struct {
		name, precision string
		onednnCfg       bool
		onednn          bool
		cpu             sysinfo.CPU
		want            tfgraph.Precision
		why             string
	}{
		{"auto avx2", "auto", true, true, avx2, tfgraph.PrecisionFP32, "no AMX-BF16"},
		{"auto amx", "auto", true, true, amx, tfgraph.PrecisionBF16, "amx_bf16, avx512_bf16"},
		{"auto amx, onednn off in config", "auto", false, true, amx, tfgraph.PrecisionFP32, "oneDNN is off"},
		{"auto amx, onednn off in process", "auto", true, false, amx, tfgraph.PrecisionFP32, "oneDNN is off"},
		{"forced bf16 on avx2", "bf16", true, true, avx2, tfgraph.PrecisionBF16, "emulated"},
		{"forced bf16 on amx", "bf16", true, true, amx, tfgraph.PrecisionBF16, "runtime.precision"},
		{"fp32 on amx", "fp32", true, true, amx, tfgraph.PrecisionFP32, "runtime.precision"},
		{"fp16", "fp16", true, true, avx2, tfgraph.PrecisionFP16, "runtime.precision"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := configs.Default().Runtime
			r.Precision, r.OneDNN = tc.precision, tc.onednnCfg
			got, why := precisionFor(r, tc.cpu, tc.onednn)
			if got != tc.want || !strings.Contains(why, tc.why) {
				t.Errorf("got %s (%s), want %s (%s)", got, why, tc.want, tc.why)
			}
		})
	}
}
