package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/internal/sysinfo"
)

func TestVersionNamesTF218AndDevices(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if !strings.Contains(s, "TensorFlow 2.18") || !strings.Contains(s, "CPU:0") {
		t.Errorf("version output lacks TF 2.18 or the CPU device:\n%s", s)
	}
	// What runtime.precision auto means on this CPU, from its flags.
	want := "precision: auto = fp32 here"
	if len(sysinfo.ReadCPU().BF16()) > 0 {
		want = "precision: auto = bf16 here"
	}
	if !strings.Contains(s, want) {
		t.Errorf("version output lacks %q:\n%s", want, s)
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"config", "show", "--set", "optim.batchsize=3"},
		{"train", "--set", "optim.batch_size=abc"},
		{"train", "--resume", "--force"},
		{"config"},
	} {
		var out bytes.Buffer
		err := run(context.Background(), args, &out, &out)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("%q: error %v, want a usage error (exit 2)", args, err)
		}
	}
}

func TestConfigShowSuggestsKey(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"config", "show", "--set", "optim.batchsize=3"}, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "optim.batch_size") {
		t.Errorf("error %v does not suggest optim.batch_size", err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"config", "show", "--set", "optim.batch_size=32"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "batch_size: 32") {
		t.Errorf("config show does not reflect --set:\n%s", out.String())
	}
}

// TestReadmeHasConfigReference keeps the config table of the documentation
// (README.md or docs/*.md; exactly one of them holds it) equal to the one
// generated from the config struct (run `bin/simsiam config reference` and
// paste it between the markers to update).
func TestReadmeHasConfigReference(t *testing.T) {
	const begin, end = "<!-- config-reference:begin -->\n", "<!-- config-reference:end -->"
	var holders []string
	for _, path := range docFiles(t) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		i, j := strings.Index(s, begin), strings.Index(s, end)
		if i < 0 && j < 0 {
			continue
		}
		holders = append(holders, docName(path))
		if i < 0 || j < i {
			t.Errorf("%s: the config-reference markers are out of order or one is missing", docName(path))
			continue
		}
		if got, want := s[i+len(begin):j], configs.Reference(); got != want {
			t.Errorf("%s's config reference is out of date: run `bin/simsiam config reference` and paste it between the markers", docName(path))
		}
	}
	if len(holders) != 1 {
		t.Errorf("the config-reference markers are in %q, want them in exactly one of README.md and docs/*.md", holders)
	}
}

func TestCopyFilteredDropsTFNoiseOnly(t *testing.T) {
	in := "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n" +
		"I0000 00:00:1795790209.253467   15599 mlir_graph_optimization_pass.cc:401] MLIR V1 optimization pass is not enabled\n" +
		"W0000 00:00:1795790209.552870   15599 op_level_cost_estimator.cc:699] Error in PredictCost()\n" +
		"E0000 00:00:1795790209.552870   15599 session.cc:1] a real error\n" +
		// The CUDA build on a machine without a GPU, and the CPU notice.
		"2026-12-01 08:27:00.143656: E external/local_xla/xla/stream_executor/cuda/cuda_fft.cc:477] Unable to register cuFFT factory: Attempting to register factory for plugin cuFFT when one has already been registered\n" +
		"E0000 00:00:1796113620.162320   12870 cuda_dnn.cc:8310] Unable to register cuDNN factory: Attempting to register factory for plugin cuDNN when one has already been registered\n" +
		"E0000 00:00:1796113620.167504   12870 cuda_blas.cc:1418] Unable to register cuBLAS factory: Attempting to register factory for plugin cuBLAS when one has already been registered\n" +
		"2026-12-01 08:27:00.212196: I tensorflow/core/platform/cpu_feature_guard.cc:210] This TensorFlow binary is optimized to use available CPU instructions in performance-critical operations.\n" +
		"To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the appropriate compiler flags.\n" +
		"2026-12-01 08:27:00.213478: E external/local_xla/xla/stream_executor/cuda/cuda_driver.cc:152] failed call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n" +
		"2026-12-01 08:27:01.000001: I tensorflow/core/util/port.cc:153] oneDNN custom operations are on. You may see slightly different numerical results.\n" +
		"2026-12-01 08:27:01.100000: I tensorflow/cc/saved_model/reader.cc:83] Reading SavedModel from: /tmp/m\n" +
		"2026-12-01 08:27:01.200000: E tensorflow/core/framework/op_kernel.cc:1 OOM when allocating tensor\n" +
		"simsiam: checkpoint missing\n"
	var out bytes.Buffer
	copyFiltered(&out, strings.NewReader(in))
	want := "E0000 00:00:1795790209.552870   15599 session.cc:1] a real error\n" +
		"2026-12-01 08:27:01.200000: E tensorflow/core/framework/op_kernel.cc:1 OOM when allocating tensor\n" +
		"simsiam: checkpoint missing\n"
	if out.String() != want {
		t.Errorf("filtered:\n%q\nwant\n%q", out.String(), want)
	}
}

func TestResumeCommandQuotesPaths(t *testing.T) {
	for dir, want := range map[string]string{
		"runs/x":        "simsiam train --config runs/x/config.yaml --resume",
		"/tmp/my runs":  "simsiam train --config '/tmp/my runs/config.yaml' --resume",
		"runs/it's":     `simsiam train --config 'runs/it'\''s/config.yaml' --resume`,
		"runs/a$b;rm x": "simsiam train --config 'runs/a$b;rm x/config.yaml' --resume",
	} {
		if got := resumeCommand(dir); got != want {
			t.Errorf("resumeCommand(%q) = %s, want %s", dir, got, want)
		}
	}
}
