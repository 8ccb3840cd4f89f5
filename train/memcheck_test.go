package train

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/configs"
)

// TestStepMemoryEstimate builds real step graphs and checks the estimate
// grows with the batch and the image size as activations do, and that the
// configs the outside test ran are refused or accepted on a 24 GiB
// machine: the built-in defaults (ResNet-50, 224 px, batch 512) and
// data.image_size=100000 are refused with a batch that fits (or none),
// the demo preset fits.
func TestStepMemoryEstimate(t *testing.T) {
	const machine = 20 << 30 // what a 24 GiB machine has available
	defaults := filepath.Join(t.TempDir(), "only-output-dir.yaml")
	if err := os.WriteFile(defaults, []byte("output_dir: "+t.TempDir()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	buildFrom := func(o configs.LoadOptions) stepMemory {
		t.Helper()
		cfg, err := configs.Load(o)
		if err != nil {
			t.Fatal(err)
		}
		p, err := BuildPipeline(cfg, 10, 100)
		if err != nil {
			t.Fatal(err)
		}
		return estimateStep(p.Graph, int64(cfg.Optim.BatchSize), 0)
	}
	build := func(sets ...string) stepMemory {
		t.Helper()
		return buildFrom(configs.LoadOptions{Preset: "fashion_mnist_demo", Sets: sets})
	}
	demo := build()
	t.Logf("demo: batch %d, %s fixed, %s per image, %s in all", demo.batch, gib(demo.fixed), mib(demo.perImage), gib(demo.total()))
	if err := checkMemory(demo, machine, "RAM"); err != nil {
		t.Errorf("the demo preset is refused: %v", err)
	}
	double := build("optim.batch_size=" + strconv.Itoa(2*int(demo.batch)))
	if double.perImage != demo.perImage || double.total()-demo.total() != demo.perImage*demo.batch {
		t.Errorf("doubling the batch: %+v against %+v; want the activations doubled, the rest equal", double, demo)
	}
	big := build("data.image_size=56")
	if r := float64(big.perImage) / float64(demo.perImage); r < 3.5 || r > 4.5 {
		t.Errorf("twice the image side: activations per image %.2f×, want about 4×", r)
	}
	// A config of only output_dir: the built-in defaults.
	resnet50 := buildFrom(configs.LoadOptions{File: defaults})
	err := checkMemory(resnet50, machine, "RAM (MemAvailable)")
	t.Logf("ResNet-50: %v", err)
	if err == nil || !strings.Contains(err.Error(), "batch 512 needs about") || !strings.Contains(err.Error(), "optim.batch_size") ||
		!strings.Contains(err.Error(), "RAM (MemAvailable) has 20.0 GiB") {
		t.Errorf("ResNet-50 at 224 px, batch 512: %v", err)
	}
	if fit := fitBatch(resnet50, machine); fit < 1 || fit >= 512 ||
		checkMemory(stepMemory{fixed: resnet50.fixed, perImage: resnet50.perImage, batch: fit}, machine, "RAM") != nil {
		t.Errorf("suggested batch %d does not fit", fit)
	}
	huge := build("data.image_size=100000")
	if err := checkMemory(huge, machine, "RAM"); err == nil || !strings.Contains(err.Error(), "no batch fits") {
		t.Errorf("image_size 100000: %v", err)
	}
}
