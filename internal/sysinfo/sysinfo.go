// Package sysinfo describes the machine a figure was measured on: the CPU
// model and the vector extensions TensorFlow's kernels use. Results are
// exact only on one CPU model: oneDNN and Eigen pick different code paths
// (AVX2, AVX512, AMX), which round differently.
package sysinfo

import (
	"bufio"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// vectorFlags are the /proc/cpuinfo flags that change TensorFlow's CPU
// code paths, in the order they are reported.
var vectorFlags = []string{"avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
	"avx512_bf16", "avx512_fp16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8"}

// CPU is a processor's model name, logical core count and vector extensions.
type CPU struct {
	Model string
	Cores int
	// Vector lists the extensions of vectorFlags the CPU has.
	Vector []string
}

// String is "MODEL (N cores; avx2 fma ...)".
func (c CPU) String() string {
	v := strings.Join(c.Vector, " ")
	if v == "" {
		v = "no AVX"
	}
	model := c.Model
	if model == "" {
		model = runtime.GOARCH + " CPU"
	}
	return model + " (" + strconv.Itoa(c.Cores) + " cores; " + v + ")"
}

// ReadCPU describes this machine's CPU from /proc/cpuinfo; without it
// (not Linux) only the core count is known.
func ReadCPU() CPU {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return CPU{Cores: runtime.NumCPU()}
	}
	defer f.Close()
	c := ParseCPUInfo(f)
	if c.Cores == 0 {
		c.Cores = runtime.NumCPU()
	}
	return c
}

// ParseCPUInfo reads the text of /proc/cpuinfo: the first "model name" and
// "flags" lines, and the number of "processor" entries.
func ParseCPUInfo(r io.Reader) CPU {
	var c CPU
	var flags map[string]bool
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		switch {
		case key == "processor":
			c.Cores++
		case key == "model name" && c.Model == "":
			c.Model = val
		case key == "flags" && flags == nil:
			flags = map[string]bool{}
			for _, f := range strings.Fields(val) {
				flags[f] = true
			}
		}
	}
	for _, f := range vectorFlags {
		if flags[f] {
			c.Vector = append(c.Vector, f)
		}
	}
	return c
}

// BF16Flags are the CPU flags of bfloat16 matrix hardware that oneDNN
// uses: AMX-BF16 (Sapphire Rapids and later) and AVX512-BF16.
var BF16Flags = []string{"amx_bf16", "avx512_bf16"}

// BF16 lists the flags of BF16Flags the CPU has (none: bfloat16 runs
// emulated, slower than float32).
func (c CPU) BF16() []string {
	var out []string
	for _, f := range BF16Flags {
		for _, v := range c.Vector {
			if v == f {
				out = append(out, f)
			}
		}
	}
	return out
}
