package sysinfo

import (
	"slices"
	"strings"
	"testing"
)

func TestParseCPUInfo(t *testing.T) {
	tests := []struct {
		name, text string
		want       CPU
		str        string
		bf16       []string
	}{
		{"avx2 only", "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse avx avx2 fma bmi2\n\nprocessor\t: 1\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse avx avx2 fma bmi2\n",
			CPU{Model: "AMD EPYC", Cores: 2, Vector: []string{"avx", "avx2", "fma"}}, "AMD EPYC (2 cores; avx avx2 fma)", nil},
		{"amx", "processor : 0\nmodel name : Intel(R) Xeon(R) Platinum 8481C\nflags : avx avx2 fma avx512f avx512_bf16 amx_bf16 amx_tile amx_int8 avx_vnni\n",
			CPU{Model: "Intel(R) Xeon(R) Platinum 8481C", Cores: 1, Vector: []string{"avx", "avx2", "fma", "avx512f", "avx512_bf16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8"}},
			"Intel(R) Xeon(R) Platinum 8481C (1 cores; avx avx2 fma avx512f avx512_bf16 avx_vnni amx_tile amx_bf16 amx_int8)", []string{"amx_bf16", "avx512_bf16"}},
		{"avx512 bf16 without amx", "processor : 0\nmodel name : AMD EPYC 9654\nflags : avx avx2 fma avx512f avx512_bf16\n",
			CPU{Model: "AMD EPYC 9654", Cores: 1, Vector: []string{"avx", "avx2", "fma", "avx512f", "avx512_bf16"}}, "", []string{"avx512_bf16"}},
		{"no flags (arm)", "processor : 0\nBogoMIPS : 50\n", CPU{Cores: 1}, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseCPUInfo(strings.NewReader(tt.text))
			if got.Model != tt.want.Model || got.Cores != tt.want.Cores || !slices.Equal(got.Vector, tt.want.Vector) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			if tt.str != "" && got.String() != tt.str {
				t.Errorf("String() = %q, want %q", got.String(), tt.str)
			}
			if !slices.Equal(got.BF16(), tt.bf16) {
				t.Errorf("BF16() = %v, want %v", got.BF16(), tt.bf16)
			}
		})
	}
}

func TestReadCPUHere(t *testing.T) {
	c := ReadCPU()
	if c.Cores < 1 {
		t.Fatalf("ReadCPU found %d cores", c.Cores)
	}
	t.Logf("this machine: %s", c)
}
