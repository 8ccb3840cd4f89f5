package configs

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// writeFile writes content to a YAML file in a fresh temporary directory.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// failingKeys returns the keys named at the start of every line of a
// Validate error ("optim.epochs: must be > 0" -> "optim.epochs").
func failingKeys(err error) []string {
	if err == nil {
		return nil
	}
	var keys []string
	for _, line := range strings.Split(err.Error(), "\n") {
		key, _, _ := strings.Cut(line, ":")
		if !slices.Contains(keys, key) {
			keys = append(keys, key)
		}
	}
	slices.Sort(keys)
	return keys
}

// leafKeys lists the dotted keys of every leaf of t, found by reflection
// independently of the package's own schema.
func leafKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		key := prefix + f.Tag.Get("yaml")
		if f.Type.Kind() == reflect.Struct {
			keys = append(keys, leafKeys(f.Type, key+".")...)
			continue
		}
		keys = append(keys, key)
	}
	return keys
}

// lookup finds a dotted key in a nested map decoded from YAML.
func lookup(m map[string]any, key string) (any, bool) {
	var cur any = m
	for _, part := range strings.Split(key, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = mm[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func TestDefaultIsValid(t *testing.T) {
	c := Default()
	if err := c.Validate(false); err != nil {
		t.Fatalf("Default().Validate(false) = %v", err)
	}
	if _, err := os.Stat(c.Data.Dir); err != nil {
		t.Skipf("no %s on this machine: %v", c.Data.Dir, err)
	}
	if err := c.Validate(true); err != nil {
		t.Fatalf("Default().Validate(true) = %v", err)
	}
}

func TestDefaultValues(t *testing.T) {
	c := Default()
	tests := []struct {
		name      string
		got, want any
	}{
		{"seed", c.Seed, int64(0)},
		{"output_dir", c.OutputDir, "runs/simsiam"},
		{"data.format", c.Data.Format, "idx"},
		{"data.dir", c.Data.Dir, "/usr/share/datasets/fashion-mnist"},
		{"data.image_size", c.Data.ImageSize, 224},
		{"data.mean", c.Data.Mean, []float64{0.485, 0.456, 0.406}},
		{"data.std", c.Data.Std, []float64{0.229, 0.224, 0.225}},
		{"eval.dir", c.Eval.Dir, c.Data.Dir},
		{"augment.crop_ratio", c.Augment.CropRatio, []float64{0.75, 4.0 / 3.0}},
		{"augment.blur_sigma", c.Augment.BlurSigma, []float64{0.1, 2.0}},
		{"model.arch", c.Model.Arch, "resnet50"},
		{"model.bn_eps", c.Model.BNEps, 1e-5},
		{"optim.batch_size", c.Optim.BatchSize, 512},
		{"optim.base_lr", c.Optim.BaseLR, 0.05},
		{"optim.weight_decay", c.Optim.WeightDecay, 1e-4},
		{"train.checkpoint_every", c.Train.CheckpointEvery, 1000},
		{"linear.epochs", c.Linear.Epochs, 90},
		{"runtime.devices", c.Runtime.Devices, []string{}},
		{"runtime.gpu_memory_growth", c.Runtime.GPUMemoryGrowth, true},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("Default() %s = %#v, want %#v", tt.name, tt.got, tt.want)
		}
	}
}

// presetKeys lists the dotted keys a preset document sets, BaseKey aside.
func presetKeys(m map[string]any, prefix string) []string {
	var keys []string
	for k, v := range m {
		if prefix == "" && k == BaseKey {
			continue
		}
		if sub, ok := v.(map[string]any); ok {
			keys = append(keys, presetKeys(sub, prefix+k+".")...)
			continue
		}
		keys = append(keys, prefix+k)
	}
	slices.Sort(keys)
	return keys
}

// TestPresets checks that every preset loads and validates, that every key
// it sets is a key of the configuration, and that it sets no key to the
// value it would have without it (its base preset's, or the default), so
// that a preset lists exactly what makes it differ.
func TestPresets(t *testing.T) {
	want := []string{"cifar10_linear", "cifar10_resnet18", "fashion_mnist_barlow_twins", "fashion_mnist_byol", "fashion_mnist_demo", "fashion_mnist_long", "fashion_mnist_simclr", "imagenet_resnet50", "stl10_resnet18"}
	if got := Presets(); !slices.Equal(got, want) {
		t.Fatalf("Presets() = %v, want %v", got, want)
	}
	for _, name := range want {
		t.Run(name, func(t *testing.T) {
			c, err := Load(LoadOptions{Preset: name})
			if err != nil {
				t.Fatalf("Load(%s) = %v", name, err)
			}
			if err := c.Validate(false); err != nil {
				t.Fatalf("Validate = %v", err)
			}
			data, err := PresetYAML(name + ".yaml")
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := yaml.Unmarshal(data, &m); err != nil {
				t.Fatal(err)
			}
			parent, from := Default(), "the default"
			if base, ok := m[BaseKey]; ok {
				p, err := Load(LoadOptions{Preset: base.(string)})
				if err != nil {
					t.Fatalf("base %v: %v", base, err)
				}
				parent, from = *p, fmt.Sprintf("preset %v's value", base)
			}
			child, inherited := reflect.ValueOf(*c), reflect.ValueOf(parent)
			for _, key := range presetKeys(m, "") {
				f := schema().byKey[key]
				if f == nil || f.section {
					t.Errorf("%s sets %s, which is not a key", name, key)
					continue
				}
				if v := goldenValue(f.value(child)); v == goldenValue(f.value(inherited)) {
					t.Errorf("%s sets %s to %s, %s: leave it out", name, key, v, from)
				}
			}
		})
	}
	if _, err := PresetYAML("fashion_mnist"); err == nil || !strings.Contains(err.Error(), `did you mean "fashion_mnist_demo"`) {
		t.Errorf("PresetYAML(unknown) = %v, want a suggestion", err)
	}
	if _, err := Load(LoadOptions{Preset: "nope"}); err == nil {
		t.Error("Load(unknown preset) succeeded")
	}
}

// TestPresetFilesLoadAsFiles checks that a preset's file given as --config
// (configs/fashion_mnist_long.yaml, as results/sweeps.csv records) is the
// preset: its base is found among the embedded presets.
func TestPresetFilesLoadAsFiles(t *testing.T) {
	for _, name := range Presets() {
		p, err := Load(LoadOptions{Preset: name})
		if err != nil {
			t.Fatal(err)
		}
		f, err := Load(LoadOptions{File: name + ".yaml"})
		if err != nil {
			t.Fatalf("%s.yaml as a file: %v", name, err)
		}
		if d := Diff(p, f); len(d) > 0 {
			t.Errorf("%s.yaml as a file differs from the preset: %v", name, d)
		}
	}
}

// TestPresetKeysFindsOverrides checks presetKeys itself, on which the
// minimality check of TestPresets rests.
func TestPresetKeysFindsOverrides(t *testing.T) {
	m := map[string]any{BaseKey: "x", "seed": 1, "optim": map[string]any{"epochs": 2, "base_lr": 0.1}}
	if got, want := presetKeys(m, ""), []string{"optim.base_lr", "optim.epochs", "seed"}; !slices.Equal(got, want) {
		t.Errorf("presetKeys = %v, want %v", got, want)
	}
}

// TestBase checks base: documents layered over a preset, and the errors of
// a base that cannot be followed.
func TestBase(t *testing.T) {
	demo, err := Load(LoadOptions{Preset: "fashion_mnist_demo"})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("file over a preset", func(t *testing.T) {
		c, err := Load(LoadOptions{File: writeFile(t, "base: fashion_mnist_demo\noptim:\n  epochs: 5\n"), Sets: []string{"seed=3"}})
		if err != nil {
			t.Fatal(err)
		}
		want := *demo
		want.Optim.Epochs, want.Seed = 5, 3
		if d := Diff(&want, c); len(d) > 0 {
			t.Errorf("differs from the demo with epochs 5 and seed 3: %v", d)
		}
	})
	t.Run("empty section keeps the base", func(t *testing.T) {
		c, err := Load(LoadOptions{File: writeFile(t, "base: fashion_mnist_demo\nmodel:\n")})
		if err != nil {
			t.Fatal(err)
		}
		if d := Diff(demo, c); len(d) > 0 {
			t.Errorf("differs from the demo: %v", d)
		}
	})
	t.Run("list replaced, not merged", func(t *testing.T) {
		c, err := Load(LoadOptions{File: writeFile(t, "base: fashion_mnist_demo\naugment:\n  crop_scale: [0.5, 0.9]\n")})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(c.Augment.CropScale, []float64{0.5, 0.9}) || c.Augment.Brightness != demo.Augment.Brightness {
			t.Errorf("crop_scale %v, brightness %v", c.Augment.CropScale, c.Augment.Brightness)
		}
	})
	for _, tt := range []struct {
		name, content, want string
	}{
		{"unknown preset", "seed: 1\nbase: fashion_mnist\n", `config.yaml:2: base: configs: unknown preset "fashion_mnist" (did you mean "fashion_mnist_demo"?)`},
		{"not a name", "base: [a]\n", `config.yaml:1: base: want the name of a preset`},
		{"empty", "base: \"\"\n", `config.yaml:1: base: want the name of a preset`},
		{"nested", "optim:\n  base: fashion_mnist_demo\n", `unknown key "optim.base"`},
		{"twice", "base: cifar10_resnet18\nbase: fashion_mnist_demo\n", `duplicate key "base"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(LoadOptions{File: writeFile(t, tt.content)})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	t.Run("a file named as a preset is no cycle", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "configs", "fashion_mnist_demo.yaml")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("base: fashion_mnist_demo\nseed: 4\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Chdir(filepath.Dir(filepath.Dir(path)))
		c, err := Load(LoadOptions{File: "configs/fashion_mnist_demo.yaml"})
		if err != nil || c.Seed != 4 || c.Model.Arch != demo.Model.Arch {
			t.Errorf("Load = %v", err)
		}
	})
	t.Run("environment", func(t *testing.T) {
		if _, err := Load(LoadOptions{Env: []string{"SIMSIAM_BASE=cifar10_resnet18"}}); err == nil || !strings.Contains(err.Error(), `unknown key "base"`) {
			t.Errorf("Load = %v, want SIMSIAM_BASE refused", err)
		}
	})
	// Chains and cycles, on presets of the test's own.
	fake := map[string]string{
		"a":     "base: b\nseed: 1\n",
		"b":     "base: c\nseed: 2\noutput_dir: runs/b\n",
		"c":     "seed: 3\noptim: {epochs: 7}\n",
		"loop":  "base: loop2\n",
		"loop2": "base: loop\n",
		"self":  "base: self\n",
		"bad":   "base: c\nseed: x\n",
	}
	for i := range maxBaseDepth + 1 {
		fake[fmt.Sprintf("deep%d", i)] = fmt.Sprintf("base: deep%d\n", i+1)
	}
	fake[fmt.Sprintf("deep%d", maxBaseDepth+1)] = "seed: 1\n"
	read := func(name string) ([]byte, error) {
		if s, ok := fake[name]; ok {
			return []byte(s), nil
		}
		return nil, fmt.Errorf("no preset %s", name)
	}
	chain, errs := documents(presetFile("a"), []byte(fake["a"]), read)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var names []string
	for _, d := range chain {
		names = append(names, d.name)
	}
	if want := []string{"configs/c.yaml", "configs/b.yaml", "configs/a.yaml"}; !slices.Equal(names, want) {
		t.Errorf("chain %v, want %v", names, want)
	}
	if _, ok := chain[2].values[BaseKey]; ok || chain[2].values["seed"] != 1 {
		t.Errorf("values of a: %v", chain[2].values)
	}
	for _, tt := range []struct{ start, want string }{
		{"loop", "configs/loop.yaml:1: base: the bases form a cycle: configs/loop2.yaml -> configs/loop.yaml -> configs/loop2.yaml"},
		{"self", "configs/self.yaml:1: base: the bases form a cycle: configs/self.yaml -> configs/self.yaml"},
		{"deep0", fmt.Sprintf("more than %d bases in a row", maxBaseDepth)},
		{"bad", `configs/bad.yaml:2: seed: want an integer, got "x"`},
	} {
		_, errs := documents(presetFile(tt.start), []byte(fake[tt.start]), read)
		if err := errors.Join(errs...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error containing %q", tt.start, err, tt.want)
		}
	}
	fake[fmt.Sprintf("deep%d", maxBaseDepth)] = "seed: 1\n" // exactly maxBaseDepth bases
	if _, errs := documents(presetFile("deep0"), []byte(fake["deep0"]), read); len(errs) > 0 {
		t.Errorf("%d bases: %v", maxBaseDepth, errs)
	}
}

func TestPresetValues(t *testing.T) {
	load := func(name string) *Config {
		c, err := Load(LoadOptions{Preset: name})
		if err != nil {
			t.Fatalf("Load(%s) = %v", name, err)
		}
		return c
	}
	demo := load("fashion_mnist_demo")
	stl := load("stl10_resnet18")
	lin := load("cifar10_linear")
	cif := load("cifar10_resnet18")
	inet := load("imagenet_resnet50")
	tests := []struct {
		name      string
		got, want any
	}{
		{"demo data", demo.Data, Data{Format: "idx", Dir: "/usr/share/datasets/fashion-mnist", Split: "train", ImageSize: 28, Channels: 1,
			Mean: []float64{0.2860}, Std: []float64{0.3530}, DropLast: true, Prefetch: 2, Limit: 0, ImageFeature: "image", LabelFeature: "label"}},
		{"demo eval dir", demo.Eval.Dir, demo.Data.Dir},
		{"demo model", demo.Model, Model{Arch: "resnet10", Stem: "cifar", Width: 16, ProjDim: 1024, ProjHidden: 1024, ProjLayers: 3,
			PredHidden: 256, StopGradient: true, ZeroInitResidual: true, BNEps: 1e-5, BNMomentum: 0.1}},
		{"demo optim", demo.Optim, Optim{BatchSize: 64, Epochs: 3, BaseLR: 0.8, Momentum: 0.9, WeightDecay: 5e-4, FixPredLR: true, Name: "sgd", LARSEta: 0.001}},
		{"demo jitter", []float64{demo.Augment.Brightness, demo.Augment.Contrast, demo.Augment.Saturation, demo.Augment.Hue}, []float64{0.8, 0.8, 0, 0}},
		{"demo grey", []float64{demo.Augment.BlurProb, demo.Augment.GrayscaleProb}, []float64{0, 0}},
		{"demo train", []int{demo.Train.KNNEvery, demo.Train.CheckpointEvery}, []int{1, 200}},
		{"demo linear", demo.Linear, Linear{Epochs: 30, BatchSize: 256, BaseLR: 0.1, Momentum: 0.9, CachedFeatures: true}},
		{"demo output", demo.OutputDir, "runs/fashion_mnist_demo"},
		{"stl data", []any{stl.Data.Format, stl.Data.Dir, stl.Data.Split, stl.Data.ImageSize}, []any{"stl10", "./data/stl10_binary", "unlabeled", 96}},
		{"stl eval", []string{stl.Eval.Format, stl.Eval.TrainSplit, stl.Eval.TestSplit}, []string{"stl10", "train", "test"}},
		{"stl model", []any{stl.Model.Arch, stl.Model.Stem, stl.Model.ProjDim, stl.Model.PredHidden}, []any{"resnet18", "imagenet", 2048, 512}},
		{"stl optim", []any{stl.Optim.BatchSize, stl.Optim.Epochs, stl.Optim.BaseLR, stl.Optim.WeightDecay}, []any{256, 200, 0.05, 1e-4}},
		{"stl blur", stl.Augment.BlurProb, 0.5},
		{"stl mean", stl.Data.Mean, Default().Data.Mean},
		{"linear data", []any{lin.Data.Format, lin.Data.Dir, lin.Data.ImageSize}, []any{"cifar10", "./data/cifar-10-batches-bin", 32}},
		{"linear mean", lin.Data.Mean, []float64{0.4914, 0.4822, 0.4465}},
		{"linear std", lin.Data.Std, []float64{0.2470, 0.2435, 0.2616}},
		{"linear linear", lin.Linear, Linear{Epochs: 90, BatchSize: 256, BaseLR: 0.1, Momentum: 0.9, Augment: true}},
		{"linear model matches cifar recipe", lin.Model, cif.Model},
		{"cifar model", []any{cif.Model.Arch, cif.Model.Stem, cif.Model.ProjLayers, cif.Model.ProjDim, cif.Model.PredHidden}, []any{"resnet18", "cifar", 2, 2048, 512}},
		{"cifar optim", []any{cif.Optim.BatchSize, cif.Optim.BaseLR, cif.Optim.WeightDecay, cif.Optim.Epochs}, []any{512, 0.03, 5e-4, 800}},
		{"cifar blur", cif.Augment.BlurProb, 0.0},
		{"cifar knn", cif.Train.KNNEvery, 10},
		{"cifar eval", cif.Eval.Format, "cifar10"},
		{"imagenet data", []any{inet.Data.Format, inet.Data.Dir, inet.Data.ImageSize}, []any{"folder", "./data/imagenet/train", 224}},
		{"imagenet model", []string{inet.Model.Arch, inet.Model.Stem}, []string{"resnet50", "imagenet"}},
		{"imagenet optim", inet.Optim, Default().Optim},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s = %#v, want %#v", tt.name, tt.got, tt.want)
		}
	}
}

func TestLoadDefaultsToDemoPreset(t *testing.T) {
	c, err := Load(LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	demo, err := Load(LoadOptions{Preset: DefaultPreset})
	if err != nil {
		t.Fatal(err)
	}
	if DefaultPreset != "fashion_mnist_demo" || !reflect.DeepEqual(c, demo) {
		t.Fatalf("Load({}) = %+v, want the %s preset", c, DefaultPreset)
	}
}

func TestLoadSourceErrors(t *testing.T) {
	if _, err := Load(LoadOptions{File: writeFile(t, "seed: 1\n"), Preset: "cifar10_resnet18"}); err == nil {
		t.Error("Load with File and Preset succeeded")
	}
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	if _, err := Load(LoadOptions{File: missing}); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("Load(missing file) = %v, want an error naming it", err)
	}
}

func TestUnknownKeys(t *testing.T) {
	tests := []struct {
		name    string
		opts    LoadOptions
		want    []string
		wantNot []string
	}{
		{
			name: "file",
			opts: LoadOptions{File: "optim:\n  batchsize: 64\n"},
			want: []string{`config.yaml:2: unknown key "optim.batchsize" (did you mean "optim.batch_size"?)`},
		},
		{
			name: "file top level",
			opts: LoadOptions{File: "seed: 1\nouput_dir: x\n"},
			want: []string{`unknown key "ouput_dir" (did you mean "output_dir"?)`},
		},
		{
			name: "file misplaced key",
			opts: LoadOptions{File: "data:\n  batch_size: 64\n"},
			want: []string{`unknown key "data.batch_size" (did you mean "optim.batch_size"?)`},
		},
		{
			name: "file key outside its section",
			opts: LoadOptions{File: "hue: 0.1\nknn_k: 20\n"},
			want: []string{`unknown key "hue" (did you mean "augment.hue"?)`, `unknown key "knn_k" (did you mean "train.knn_k"?)`},
		},
		{
			name: "file unknown section",
			opts: LoadOptions{File: "optimizer:\n  batch_size: 64\n"},
			want: []string{`unknown key "optimizer" (did you mean "optim"?)`},
		},
		{
			name: "file case matters",
			opts: LoadOptions{File: "Optim:\n  batch_size: 64\n"},
			want: []string{`unknown key "Optim" (did you mean "optim"?)`},
		},
		{
			name: "env",
			opts: LoadOptions{Env: []string{"HOME=/root", "SIMSIAM_OPTIM_BATCHSIZE=64"}},
			want: []string{`SIMSIAM_OPTIM_BATCHSIZE`, `unknown key "optim.batchsize" (did you mean "optim.batch_size"?)`},
		},
		{
			name: "env section",
			opts: LoadOptions{Env: []string{"SIMSIAM_MODEL=resnet18"}},
			want: []string{`SIMSIAM_MODEL`, `"model" is a section`},
		},
		{
			name: "set",
			opts: LoadOptions{Sets: []string{"optim.batchsize=64"}},
			want: []string{`unknown key "optim.batchsize" (did you mean "optim.batch_size"?)`},
		},
		{
			name: "set nested typo",
			opts: LoadOptions{Sets: []string{"augment.blur_sigm=[0.1, 1.0]"}},
			want: []string{`unknown key "augment.blur_sigm" (did you mean "augment.blur_sigma"?)`},
		},
		{
			name: "set section",
			opts: LoadOptions{Sets: []string{"optim=64"}},
			want: []string{`"optim" is a section`},
		},
		{
			name: "set without value",
			opts: LoadOptions{Sets: []string{"optim.batch_size"}},
			want: []string{`want key=value`},
		},
		{
			name: "all sources at once",
			opts: LoadOptions{File: "data:\n  imagesize: 32\n", Env: []string{"SIMSIAM_TRAIN_LOGEVERY=5"}, Sets: []string{"linear.epoch=3"}},
			want: []string{`"data.imagesize" (did you mean "data.image_size"?)`, `"train.logevery" (did you mean "train.log_every"?)`, `"linear.epoch" (did you mean "linear.epochs"?)`},
		},
		{
			name: "duplicate key",
			opts: LoadOptions{File: "optim:\n  epochs: 1\n  epochs: 2\n"},
			want: []string{`config.yaml:3: duplicate key "optim.epochs" (first set on line 2)`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.opts.File != "" {
				tt.opts.File = writeFile(t, tt.opts.File)
			}
			_, err := Load(tt.opts)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestWrongTypes(t *testing.T) {
	tests := []struct {
		name string
		opts LoadOptions
		want string
	}{
		{"file string for int", LoadOptions{File: "optim:\n  batch_size: abc\n"}, `config.yaml:2: optim.batch_size: want an integer, got "abc"`},
		{"file fraction for int", LoadOptions{File: "optim:\n  epochs: 1.5\n"}, `optim.epochs: want an integer, got 1.5`},
		{"file string for float", LoadOptions{File: "optim:\n  base_lr: fast\n"}, `optim.base_lr: want a number, got "fast"`},
		{"file quoted number for float", LoadOptions{File: "optim:\n  base_lr: \"0.1\"\n"}, `optim.base_lr: want a number, got "0.1"`},
		{"file yes for bool", LoadOptions{File: "model:\n  stop_gradient: yes\n"}, `model.stop_gradient: want a boolean (true or false), got "yes"`},
		{"file number for string", LoadOptions{File: "data:\n  split: 1\n"}, `data.split: want a string, got 1`},
		{"file scalar for list", LoadOptions{File: "data:\n  mean: 0.5\n"}, `data.mean: want a list of numbers`},
		{"file bad list item", LoadOptions{File: "data:\n  std: [0.2, x, 0.2]\n"}, `got "x" at index 1`},
		{"file mapping for leaf", LoadOptions{File: "seed:\n  a: 1\n"}, `seed: want an integer, got a mapping`},
		{"file scalar for section", LoadOptions{File: "optim: 3\n"}, `optim: want a mapping of keys`},
		{"file null for int", LoadOptions{File: "optim:\n  epochs:\n"}, `optim.epochs: want an integer, got null`},
		{"file list at top level", LoadOptions{File: "- a\n- b\n"}, `want a mapping of keys`},
		{"env string for int", LoadOptions{Env: []string{"SIMSIAM_OPTIM_BATCH_SIZE=abc"}}, `optim.batch_size: want an integer, got "abc"`},
		{"env empty for int", LoadOptions{Env: []string{"SIMSIAM_OPTIM_BATCH_SIZE="}}, `optim.batch_size: want an integer, got null`},
		{"env bad list", LoadOptions{Env: []string{"SIMSIAM_DATA_MEAN=[0.5"}}, `data.mean: cannot parse "[0.5" as a YAML value`},
		{"set string for int", LoadOptions{Sets: []string{"optim.batch_size=abc"}}, `optim.batch_size: want an integer, got "abc"`},
		{"set string for bool", LoadOptions{Sets: []string{"runtime.xla=on"}}, `runtime.xla: want a boolean (true or false), got "on"`},
		{"set number for list", LoadOptions{Sets: []string{"augment.crop_scale=0.5"}}, `augment.crop_scale: want a list of numbers`},
		{"set mapping for float", LoadOptions{Sets: []string{"optim.momentum={a: 1}"}}, `optim.momentum: want a number, got a mapping`},
		{"set huge int", LoadOptions{Sets: []string{"seed=99999999999999999999"}}, `seed: want an integer`},
		{"negative seed", LoadOptions{Sets: []string{"seed=-7"}}, `seed: must be >= 0, got -7`},
		{"negative seed in file", LoadOptions{File: "seed: -1\n"}, `seed: must be >= 0, got -1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.opts.File != "" {
				tt.opts.File = writeFile(t, tt.opts.File)
			}
			_, err := Load(tt.opts)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestSyntaxErrors(t *testing.T) {
	tests := []struct {
		name, content, want string
	}{
		{"bad indentation", "optim:\n  batch_size: 3\n epochs: 4\n", "config.yaml:3: invalid YAML: did not find expected key"},
		{"unclosed list", "seed: 1\ndata:\n  mean: [0.5\n", "config.yaml:3: invalid YAML: did not find expected ',' or ']'"},
		{"tab", "optim:\n\tbatch_size: 3\n", "config.yaml:2: invalid YAML: found character that cannot start any token"},
		{"mapping in value", "seed: 1\noutput_dir: a: b\n", "config.yaml:2: invalid YAML: mapping values are not allowed"},
		{"unterminated quote", "seed: 1\noutput_dir: \"abc\n", "config.yaml:2: invalid YAML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(LoadOptions{File: writeFile(t, tt.content)})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestValidValues(t *testing.T) {
	tests := []struct {
		name string
		opts LoadOptions
		want func(*Config) bool
	}{
		{"empty file keeps defaults", LoadOptions{File: ""}, func(c *Config) bool { return reflect.DeepEqual(*c, Default()) }},
		{"empty section keeps defaults", LoadOptions{File: "linear:\n"}, func(c *Config) bool { return reflect.DeepEqual(*c, Default()) }},
		{"int for float", LoadOptions{File: "optim:\n  base_lr: 1\n"}, func(c *Config) bool { return c.Optim.BaseLR == 1 }},
		{"integral float for int", LoadOptions{File: "optim:\n  epochs: 1e3\n"}, func(c *Config) bool { return c.Optim.Epochs == 1000 }},
		{"exponent", LoadOptions{Sets: []string{"model.bn_eps=1e-3"}}, func(c *Config) bool { return c.Model.BNEps == 1e-3 }},
		{"list from set", LoadOptions{Sets: []string{"data.channels=1", "data.mean=[0.5]", "data.std=[0.25]"}},
			func(c *Config) bool {
				return slices.Equal(c.Data.Mean, []float64{0.5}) && slices.Equal(c.Data.Std, []float64{0.25})
			}},
		{"devices from env", LoadOptions{Env: []string{"SIMSIAM_RUNTIME_DEVICES=[/device:GPU:1]"}},
			func(c *Config) bool {
				return slices.Equal(c.Runtime.Devices, []string{"/device:GPU:1"})
			}},
		{"empty devices", LoadOptions{Sets: []string{"runtime.devices=[]"}}, func(c *Config) bool { return c.Runtime.Devices != nil && len(c.Runtime.Devices) == 0 }},
		{"null devices", LoadOptions{File: "runtime:\n  devices:\n"}, func(c *Config) bool { return c.Runtime.Devices != nil && len(c.Runtime.Devices) == 0 }},
		{"verbatim string", LoadOptions{Sets: []string{"runtime.target=grpc://host:2222"}}, func(c *Config) bool { return c.Runtime.Target == "grpc://host:2222" }},
		{"numeric-looking string", LoadOptions{Sets: []string{"output_dir=2024"}}, func(c *Config) bool { return c.OutputDir == "2024" }},
		{"quoted string", LoadOptions{Env: []string{`SIMSIAM_OUTPUT_DIR="runs/a b"`}}, func(c *Config) bool { return c.OutputDir == "runs/a b" }},
		{"empty string", LoadOptions{Sets: []string{"runtime.target="}}, func(c *Config) bool { return c.Runtime.Target == "" }},
		{"bool", LoadOptions{Sets: []string{"runtime.xla=true"}}, func(c *Config) bool { return c.Runtime.XLA }},
		{"large seed", LoadOptions{Sets: []string{"seed=9223372036854775807"}}, func(c *Config) bool { return c.Seed == math.MaxInt64 }},
		{"non-SIMSIAM env ignored", LoadOptions{Env: []string{"PATH=/bin", "SIMSIAM", "OTHER_OPTIM_BATCH_SIZE=abc"}}, func(c *Config) bool { return c.Optim.BatchSize == 512 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.File = writeFile(t, opts.File) // an empty file keeps every default
			c, err := Load(opts)
			if err != nil {
				t.Fatalf("Load = %v", err)
			}
			if !tt.want(c) {
				t.Errorf("unexpected result %+v", c)
			}
		})
	}
}

func TestAliases(t *testing.T) {
	path := writeFile(t, "data:\n  mean: &m [0.5, 0.5, 0.5]\n  std: *m\n")
	c, err := Load(LoadOptions{File: path})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Data.Std, []float64{0.5, 0.5, 0.5}) {
		t.Errorf("data.std = %v", c.Data.Std)
	}
}

func TestPrecedence(t *testing.T) {
	file := writeFile(t, "optim:\n  batch_size: 100\n  epochs: 7\n")
	tests := []struct {
		name      string
		opts      LoadOptions
		batch     int
		epochs    int
		baseLR    float64
		wantError bool
	}{
		{"defaults < preset", LoadOptions{Preset: "cifar10_resnet18"}, 512, 800, 0.03, false},
		{"defaults < file", LoadOptions{File: file}, 100, 7, 0.05, false},
		{"file < env", LoadOptions{File: file, Env: []string{"SIMSIAM_OPTIM_BATCH_SIZE=200"}}, 200, 7, 0.05, false},
		{"env < set", LoadOptions{File: file, Env: []string{"SIMSIAM_OPTIM_BATCH_SIZE=200"}, Sets: []string{"optim.batch_size=300"}}, 300, 7, 0.05, false},
		{"file < set", LoadOptions{File: file, Sets: []string{"optim.epochs=9"}}, 100, 9, 0.05, false},
		{"later set wins", LoadOptions{File: file, Sets: []string{"optim.base_lr=0.1", "optim.base_lr=0.2"}}, 100, 7, 0.2, false},
		{"preset < env < set", LoadOptions{Preset: "fashion_mnist_demo", Env: []string{"SIMSIAM_OPTIM_EPOCHS=3", "SIMSIAM_OPTIM_BASE_LR=0.5"}, Sets: []string{"optim.epochs=4"}}, 64, 4, 0.5, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if c.Optim.BatchSize != tt.batch || c.Optim.Epochs != tt.epochs || c.Optim.BaseLR != tt.baseLR {
				t.Errorf("batch, epochs, base_lr = %d, %d, %v; want %d, %d, %v",
					c.Optim.BatchSize, c.Optim.Epochs, c.Optim.BaseLR, tt.batch, tt.epochs, tt.baseLR)
			}
			// Untouched keys keep the file's or the default value.
			if c.Optim.Momentum != 0.9 {
				t.Errorf("optim.momentum = %v", c.Optim.Momentum)
			}
		})
	}
}

func TestRanges(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		keys   []string // exactly the keys that must fail
	}{
		{"batch_size 0", func(c *Config) { c.Optim.BatchSize = 0 }, []string{"optim.batch_size"}},
		{"batch_size negative", func(c *Config) { c.Optim.BatchSize = -1 }, []string{"optim.batch_size"}},
		{"epochs 0", func(c *Config) { c.Optim.Epochs = 0 }, []string{"optim.epochs"}},
		{"base_lr 0", func(c *Config) { c.Optim.BaseLR = 0 }, []string{"optim.base_lr"}},
		{"base_lr NaN", func(c *Config) { c.Optim.BaseLR = math.NaN() }, []string{"optim.base_lr"}},
		{"momentum 1", func(c *Config) { c.Optim.Momentum = 1 }, []string{"optim.momentum"}},
		{"momentum negative", func(c *Config) { c.Optim.Momentum = -0.1 }, []string{"optim.momentum"}},
		{"weight_decay negative", func(c *Config) { c.Optim.WeightDecay = -1e-4 }, []string{"optim.weight_decay"}},
		{"warmup negative", func(c *Config) { c.Optim.WarmupEpochs = -1 }, []string{"optim.warmup_epochs"}},
		{"warmup beyond epochs", func(c *Config) { c.Optim.WarmupEpochs = 101 }, []string{"optim.warmup_epochs"}},
		{"several devices (in-graph towers are gone)", func(c *Config) { c.Runtime.Devices = []string{"/gpu:0", "/gpu:1", "/gpu:2"} }, []string{"runtime.devices"}},
		{"zero collective timeout", func(c *Config) { c.Runtime.CollectiveTimeoutS = 0 }, []string{"runtime.collective_timeout_s"}},
		{"negative barrier timeout", func(c *Config) { c.Runtime.BarrierTimeoutS = -1 }, []string{"runtime.barrier_timeout_s"}},
		{"jitter_prob > 1", func(c *Config) { c.Augment.JitterProb = 1.5 }, []string{"augment.jitter_prob"}},
		{"grayscale_prob < 0", func(c *Config) { c.Augment.GrayscaleProb = -0.1 }, []string{"augment.grayscale_prob"}},
		{"blur_prob > 1", func(c *Config) { c.Augment.BlurProb = 2 }, []string{"augment.blur_prob"}},
		{"solarize_prob < 0", func(c *Config) { c.Augment.SolarizeProb = -0.1 }, []string{"augment.solarize_prob"}},
		{"flip_prob NaN", func(c *Config) { c.Augment.FlipProb = math.NaN() }, []string{"augment.flip_prob"}},
		{"erase_prob > 1", func(c *Config) { c.Augment.EraseProb = 1.1 }, []string{"augment.erase_prob"}},
		{"erase_scale one value", func(c *Config) { c.Augment.EraseScale = []float64{0.1} }, []string{"augment.erase_scale"}},
		{"erase_scale beyond 1", func(c *Config) { c.Augment.EraseScale = []float64{0.1, 1.2} }, []string{"augment.erase_scale"}},
		{"local_crops negative", func(c *Config) { c.Augment.LocalCrops = -1 }, []string{"augment.local_crops"}},
		{"local_crops beyond 16", func(c *Config) { c.Augment.LocalCrops = 17 }, []string{"augment.local_crops"}},
		{"local_size beyond image_size", func(c *Config) { c.Augment.LocalSize = c.Data.ImageSize + 1 }, []string{"augment.local_size"}},
		{"local_scale reversed", func(c *Config) { c.Augment.LocalScale = []float64{0.4, 0.05} }, []string{"augment.local_scale"}},
		{"local_scale beyond 1", func(c *Config) { c.Augment.LocalScale = []float64{0.1, 1.5} }, []string{"augment.local_scale"}},
		{"brightness negative", func(c *Config) { c.Augment.Brightness = -1 }, []string{"augment.brightness"}},
		{"contrast negative", func(c *Config) { c.Augment.Contrast = -1 }, []string{"augment.contrast"}},
		{"saturation negative", func(c *Config) { c.Augment.Saturation = -1 }, []string{"augment.saturation"}},
		{"hue > 0.5", func(c *Config) { c.Augment.Hue = 0.6 }, []string{"augment.hue"}},
		{"crop_scale unordered", func(c *Config) { c.Augment.CropScale = []float64{0.9, 0.2} }, []string{"augment.crop_scale"}},
		{"crop_scale zero", func(c *Config) { c.Augment.CropScale = []float64{0, 1} }, []string{"augment.crop_scale"}},
		{"crop_scale above 1", func(c *Config) { c.Augment.CropScale = []float64{0.2, 1.5} }, []string{"augment.crop_scale"}},
		{"crop_scale one value", func(c *Config) { c.Augment.CropScale = []float64{0.2} }, []string{"augment.crop_scale"}},
		{"crop_ratio unordered", func(c *Config) { c.Augment.CropRatio = []float64{1.3, 0.7} }, []string{"augment.crop_ratio"}},
		{"crop_ratio negative", func(c *Config) { c.Augment.CropRatio = []float64{-1, 1} }, []string{"augment.crop_ratio"}},
		{"blur_sigma unordered", func(c *Config) { c.Augment.BlurSigma = []float64{2, 0.1} }, []string{"augment.blur_sigma"}},
		{"blur_sigma three values", func(c *Config) { c.Augment.BlurSigma = []float64{0.1, 1, 2} }, []string{"augment.blur_sigma"}},
		{"bn_momentum 0", func(c *Config) { c.Model.BNMomentum = 0 }, []string{"model.bn_momentum"}},
		{"bn_momentum > 1", func(c *Config) { c.Model.BNMomentum = 1.1 }, []string{"model.bn_momentum"}},
		{"bn_eps 0", func(c *Config) { c.Model.BNEps = 0 }, []string{"model.bn_eps"}},
		{"image_size 7", func(c *Config) { c.Data.ImageSize = 7 }, []string{"data.image_size"}},
		{"channels 2", func(c *Config) { c.Data.Channels = 2; c.Data.Mean = []float64{0, 0}; c.Data.Std = []float64{1, 1} }, []string{"data.channels"}},
		{"channels 1 with 3 stats", func(c *Config) { c.Data.Channels = 1 }, []string{"data.mean", "data.std"}},
		{"mean too short", func(c *Config) { c.Data.Mean = []float64{0.5, 0.5} }, []string{"data.mean"}},
		{"one mean for every channel", func(c *Config) { c.Data.Mean = []float64{0.5} }, nil},
		{"no std", func(c *Config) { c.Data.Std = nil }, nil},
		{"std too long", func(c *Config) { c.Data.Std = []float64{1, 1, 1, 1} }, []string{"data.std"}},
		{"std zero", func(c *Config) { c.Data.Std = []float64{0.2, 0, 0.2} }, []string{"data.std"}},
		{"mean infinite", func(c *Config) { c.Data.Mean = []float64{0.5, math.Inf(1), 0.5} }, []string{"data.mean"}},
		{"arch", func(c *Config) { c.Model.Arch = "resnet152" }, []string{"model.arch"}},
		{"stem", func(c *Config) { c.Model.Stem = "tiny" }, []string{"model.stem"}},
		{"data.format", func(c *Config) { c.Data.Format = "mnist" }, []string{"data.format"}},
		{"eval.format", func(c *Config) { c.Eval.Format = "png" }, []string{"eval.format"}},
		{"data.split idx", func(c *Config) { c.Data.Split = "unlabeled" }, []string{"data.split"}},
		{"data.split stl10", func(c *Config) { c.Data.Format = "stl10"; c.Data.Split = "val" }, []string{"data.split"}},
		{"data.split folder ignored", func(c *Config) { c.Data.Format = "folder"; c.Data.Split = "anything" }, nil},
		{"stl10 train+unlabeled", func(c *Config) { c.Data.Format = "stl10"; c.Data.Split = "train+unlabeled" }, nil},
		{"eval unlabeled", func(c *Config) { c.Eval.Format = "stl10"; c.Eval.TrainSplit = "unlabeled" }, []string{"eval.train_split"}},
		{"eval test split", func(c *Config) { c.Eval.TestSplit = "val" }, []string{"eval.test_split"}},
		{"eval folder split", func(c *Config) { c.Eval.Format = "folder"; c.Eval.TestSplit = "val" }, nil},
		{"eval folder empty split", func(c *Config) { c.Eval.Format = "folder"; c.Eval.TrainSplit = "" }, []string{"eval.train_split"}},
		{"proj_layers 1", func(c *Config) { c.Model.ProjLayers = 1 }, []string{"model.proj_layers"}},
		{"proj_layers 2", func(c *Config) { c.Model.ProjLayers = 2 }, nil},
		{"width 0", func(c *Config) { c.Model.Width = 0 }, []string{"model.width"}},
		{"proj_dim 0", func(c *Config) { c.Model.ProjDim = 0 }, []string{"model.proj_dim"}},
		{"proj_hidden 0", func(c *Config) { c.Model.ProjHidden = 0 }, []string{"model.proj_hidden"}},
		{"pred_hidden 0", func(c *Config) { c.Model.PredHidden = 0 }, []string{"model.pred_hidden"}},
		{"keep_checkpoints 0", func(c *Config) { c.Train.KeepCheckpoints = 0 }, []string{"train.keep_checkpoints"}},
		{"checkpoint_every negative", func(c *Config) { c.Train.CheckpointEvery = -1 }, []string{"train.checkpoint_every"}},
		{"max_steps negative", func(c *Config) { c.Train.MaxSteps = -1 }, []string{"train.max_steps"}},
		{"log_every 0", func(c *Config) { c.Train.LogEvery = 0 }, []string{"train.log_every"}},
		{"knn_every negative", func(c *Config) { c.Train.KNNEvery = -1 }, []string{"train.knn_every"}},
		{"knn_k 0", func(c *Config) { c.Train.KNNK = 0 }, []string{"train.knn_k"}},
		{"knn_k above limit_train", func(c *Config) { c.Train.KNNEvery = 1; c.Eval.LimitTrain = 100 }, []string{"train.knn_k"}},
		{"knn_temperature 0", func(c *Config) { c.Train.KNNTemperature = 0 }, []string{"train.knn_temperature"}},
		{"linear epochs 0", func(c *Config) { c.Linear.Epochs = 0 }, []string{"linear.epochs"}},
		{"linear batch_size 0", func(c *Config) { c.Linear.BatchSize = 0 }, []string{"linear.batch_size"}},
		{"linear base_lr negative", func(c *Config) { c.Linear.BaseLR = -0.1 }, []string{"linear.base_lr"}},
		{"linear momentum 1", func(c *Config) { c.Linear.Momentum = 1 }, []string{"linear.momentum"}},
		{"linear weight_decay negative", func(c *Config) { c.Linear.WeightDecay = -1 }, []string{"linear.weight_decay"}},
		{"cached features with augment", func(c *Config) { c.Linear.CachedFeatures = true }, []string{"linear.cached_features"}},
		{"prefetch negative", func(c *Config) { c.Data.Prefetch = -1 }, []string{"data.prefetch"}},
		{"limit negative", func(c *Config) { c.Data.Limit = -1 }, []string{"data.limit"}},
		{"limit below batch", func(c *Config) { c.Data.Limit = 100 }, []string{"data.limit"}},
		{"limit below batch without drop_last", func(c *Config) { c.Data.Limit = 100; c.Data.DropLast = false }, nil},
		{"limit_train negative", func(c *Config) { c.Eval.LimitTrain = -1 }, []string{"eval.limit_train"}},
		{"limit_test negative", func(c *Config) { c.Eval.LimitTest = -1 }, []string{"eval.limit_test"}},
		{"threads negative", func(c *Config) { c.Runtime.IntraOpThreads = -1; c.Runtime.InterOpThreads = -2 }, []string{"runtime.inter_op_threads", "runtime.intra_op_threads"}},
		{"duplicate device", func(c *Config) { c.Runtime.Devices = []string{"/gpu:0", "/gpu:0"} }, []string{"runtime.devices"}},
		{"empty device", func(c *Config) { c.Runtime.Devices = []string{""} }, []string{"runtime.devices"}},
		{"target with space", func(c *Config) { c.Runtime.Target = "grpc://a b" }, []string{"runtime.target"}},
		{"bf16 without onednn", func(c *Config) { c.Runtime.Precision = "bf16"; c.Runtime.OneDNN = false }, []string{"runtime.precision"}},
		{"auto without onednn", func(c *Config) { c.Runtime.OneDNN = false }, nil},
		{"skip_nonfinite_steps negative", func(c *Config) { c.Train.SkipNonfiniteSteps = -1 }, []string{"train.skip_nonfinite_steps"}},
		{"skip_nonfinite_steps 5", func(c *Config) { c.Train.SkipNonfiniteSteps = 5 }, nil},
		{"empty output_dir", func(c *Config) { c.OutputDir = "" }, []string{"output_dir"}},
		{"empty data.dir", func(c *Config) { c.Data.Dir = "" }, []string{"data.dir"}},
		{"every problem at once", func(c *Config) {
			c.Optim.BatchSize = 0
			c.Optim.Epochs = 0
			c.Augment.FlipProb = 2
			c.Model.Arch = "vgg"
		}, []string{"augment.flip_prob", "model.arch", "optim.batch_size", "optim.epochs"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mutate(&c)
			err := c.Validate(false)
			if got := failingKeys(err); !slices.Equal(got, tt.keys) {
				t.Errorf("failing keys = %v, want %v (error: %v)", got, tt.keys, err)
			}
		})
	}
}

func TestRangesThroughLoad(t *testing.T) {
	// Validation runs inside Load too, after all layers.
	_, err := Load(LoadOptions{Sets: []string{"optim.momentum=1", "augment.hue=0.7"}})
	if got := failingKeys(err); !slices.Equal(got, []string{"augment.hue", "optim.momentum"}) {
		t.Errorf("failing keys = %v (error: %v)", got, err)
	}
}

func TestCheckPaths(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	tests := []struct {
		name          string
		dataDir, eval string
		want          []string
	}{
		{"both exist", dir, dir, nil},
		{"data missing", missing, dir, []string{"data.dir", missing}},
		{"eval missing", dir, missing, []string{"eval.dir", missing}},
		{"not a directory", file, dir, []string{"data.dir", "not a directory"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.Data.Dir, c.Eval.Dir = tt.dataDir, tt.eval
			if err := c.Validate(false); err != nil {
				t.Fatalf("Validate(false) = %v", err)
			}
			err := c.Validate(true)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate(true) = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate(true) succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	// tfrecord takes a file or a glob; tfds a data set name resolved later.
	for _, tt := range []struct {
		format, dir string
		ok          bool
	}{
		{"tfrecord", file, true},
		{"tfrecord", filepath.Join(dir, "*.tfrecord*"), true},
		{"tfrecord", missing, false},
		{"tfds", "stl10:1.0.0", true},
		{"tfds", "cifar10", true},
		{"tfds", missing, false},
		{"tfds", file, false},
		{"idx", "stl10:1.0.0", false},
	} {
		c := Default()
		c.Data.Format, c.Data.Dir, c.Data.Split = tt.format, tt.dir, "train"
		c.Eval.Dir = dir
		if err := c.Validate(true); (err == nil) != tt.ok {
			t.Errorf("format %s, data.dir %s: Validate(true) = %v, want ok %v", tt.format, tt.dir, err, tt.ok)
		}
	}
	_, err := Load(LoadOptions{Preset: "stl10_resnet18", Sets: []string{"data.dir=" + missing}, CheckPaths: true})
	if err == nil || !strings.Contains(err.Error(), `data.dir: directory "`+missing+`" does not exist`) {
		t.Errorf("Load(CheckPaths) = %v", err)
	}
}

func TestYAMLRoundTrip(t *testing.T) {
	custom := Default()
	custom.Seed = 42
	custom.OutputDir = "runs/it's: a \"test\""
	custom.Data.Format = "stl10"
	custom.Data.Split = "train+unlabeled"
	custom.Data.Channels = 1
	custom.Data.Mean = []float64{0.1234567890123}
	custom.Data.Std = []float64{1e-7}
	custom.Data.DropLast = false
	custom.Eval.Format = "folder"
	custom.Eval.TestSplit = "123"
	custom.Augment.CropRatio = []float64{0.5, 2}
	custom.Augment.Hue = 0
	custom.Model.BNEps = 1.5e-300
	custom.Model.StopGradient = false
	custom.Optim.BaseLR = 1.0 / 3.0
	custom.Optim.BatchSize = 999
	custom.Train.MaxSteps = 123456789
	custom.Runtime.Devices = []string{"/job:worker/replica:0/task:0/device:GPU:0"}
	custom.Runtime.Target = "grpc://localhost:2222"

	configs := map[string]Config{"default": Default(), "custom": custom}
	for _, name := range Presets() {
		c, err := Load(LoadOptions{Preset: name})
		if err != nil {
			t.Fatal(err)
		}
		configs[name] = *c
	}
	for name, want := range configs {
		t.Run(name, func(t *testing.T) {
			if err := want.Validate(false); err != nil {
				t.Fatalf("test config invalid: %v", err)
			}
			data, err := want.YAML()
			if err != nil {
				t.Fatal(err)
			}
			got, err := Load(LoadOptions{File: writeFile(t, string(data))})
			if err != nil {
				t.Fatalf("Load(YAML()) = %v\n%s", err, data)
			}
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("round trip changed the config:\n got %+v\nwant %+v\nYAML:\n%s", *got, want, data)
			}
		})
	}
}

// TestParseYAML checks that an effective config held in memory (as a
// checkpoint may record it) reads back to the same config, and that it is
// checked as a file is.
func TestParseYAML(t *testing.T) {
	for _, name := range Presets() {
		want, err := Load(LoadOptions{Preset: name})
		if err != nil {
			t.Fatal(err)
		}
		y, err := want.YAML()
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseYAML("checkpoint record", y)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: read back differently: %v", name, Diff(want, got))
		}
	}
	for _, tt := range []struct{ data, want string }{
		{"optim:\n  batchsize: 3\n", `record:2: unknown key "optim.batchsize"`},
		{"optim:\n  batch_size: 0\n", "optim.batch_size: must be > 0"},
		{strings.Repeat("#", MaxFileBytes+1), "record is 1048577 bytes (1.0 MiB), over the limit"},
	} {
		if _, err := ParseYAML("record", []byte(tt.data)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseYAML(%.30q) = %v, want an error containing %q", tt.data, err, tt.want)
		}
	}
}

func TestYAMLHasEveryKey(t *testing.T) {
	c := Default()
	data, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	keys := leafKeys(reflect.TypeFor[Config](), "")
	if len(keys) != len(schema().leaves) {
		t.Errorf("%d leaf keys by reflection, %d in the schema", len(keys), len(schema().leaves))
	}
	for _, key := range keys {
		if key == "" || strings.Contains(key, "..") || strings.HasSuffix(key, ".") {
			t.Errorf("field without yaml key: %q", key)
			continue
		}
		if _, ok := lookup(m, key); !ok {
			t.Errorf("key %s missing from Default().YAML()", key)
		}
		last := key[strings.LastIndex(key, ".")+1:]
		if !strings.Contains(string(data), last+":") {
			t.Errorf("%s: does not appear in Default().YAML()", last)
		}
	}
	// Nothing else: the YAML holds exactly the struct's keys.
	var count func(map[string]any) int
	count = func(m map[string]any) int {
		n := 0
		for _, v := range m {
			if sub, ok := v.(map[string]any); ok {
				n += count(sub)
			} else {
				n++
			}
		}
		return n
	}
	if n := count(m); n != len(keys) {
		t.Errorf("Default().YAML() has %d leaves, the struct %d", n, len(keys))
	}
}

func TestStructTags(t *testing.T) {
	var check func(reflect.Type, string)
	check = func(typ reflect.Type, prefix string) {
		seen := map[string]bool{}
		for i := range typ.NumField() {
			f := typ.Field(i)
			y, ms, doc := f.Tag.Get("yaml"), f.Tag.Get("mapstructure"), f.Tag.Get("doc")
			where := prefix + f.Name
			if y == "" || y != ms {
				t.Errorf("%s: yaml tag %q and mapstructure tag %q must be equal and non-empty", where, y, ms)
			}
			if y != strings.ToLower(y) || strings.ContainsAny(y, ".,- ") {
				t.Errorf("%s: yaml key %q must be lower_snake_case", where, y)
			}
			if seen[y] {
				t.Errorf("%s: duplicate key %q", where, y)
			}
			seen[y] = true
			if len(doc) < 10 || !strings.HasSuffix(doc, ".") {
				t.Errorf("%s: doc tag %q must be a sentence", where, doc)
			}
			switch f.Type.Kind() {
			case reflect.Struct:
				check(f.Type, where+".")
			case reflect.Int, reflect.Int64, reflect.Float64, reflect.Bool, reflect.String:
			case reflect.Slice:
				if k := f.Type.Elem().Kind(); k != reflect.Float64 && k != reflect.String {
					t.Errorf("%s: unsupported list type %s", where, f.Type)
				}
			default:
				t.Errorf("%s: unsupported type %s", where, f.Type)
			}
		}
	}
	check(reflect.TypeFor[Config](), "Config.")
	if err := schema().err; err != nil {
		t.Error(err)
	}
}

// TestMalformedTagsAreAnError checks that the schema reports (rather than
// panics on) a field without tags, and leaves it out.
func TestMalformedTagsAreAnError(t *testing.T) {
	type bad struct {
		Good int `yaml:"good" mapstructure:"good" doc:"A documented key."`
		Bare int
	}
	s := &schemaInfo{byKey: map[string]*field{}, byEnv: map[string]*field{}}
	fields := s.walk(reflect.TypeFor[bad](), nil)
	if len(fields) != 1 || fields[0].key != "good" {
		t.Errorf("fields %v, want only good", fields)
	}
	if s.err == nil || !strings.Contains(s.err.Error(), "bad.Bare") {
		t.Errorf("err = %v, want one naming bad.Bare", s.err)
	}
}

func TestEnvNames(t *testing.T) {
	s := schema()
	if len(s.byEnv) != len(s.leaves) {
		t.Fatalf("%d environment names for %d keys: two keys share a name", len(s.byEnv), len(s.leaves))
	}
	tests := map[string]string{
		"SIMSIAM_OPTIM_BATCH_SIZE":         "optim.batch_size",
		"SIMSIAM_SEED":                     "seed",
		"SIMSIAM_OUTPUT_DIR":               "output_dir",
		"SIMSIAM_RUNTIME_INTRA_OP_THREADS": "runtime.intra_op_threads",
	}
	for env, key := range tests {
		if f := s.byEnv[env]; f == nil || f.key != key {
			t.Errorf("%s maps to %v, want %s", env, f, key)
		}
	}
}

func TestReference(t *testing.T) {
	ref := Reference()
	lines := strings.Split(strings.TrimSpace(ref), "\n")
	if !strings.HasPrefix(lines[0], "| Key |") || !strings.HasPrefix(lines[1], "|--") {
		t.Fatalf("no table header:\n%s", ref)
	}
	for _, f := range schema().all {
		found := false
		for _, line := range lines {
			if strings.Contains(line, "`"+f.key+"`") && strings.Contains(line, f.doc) {
				found = true
			}
		}
		if !found {
			t.Errorf("no row with key %s and its doc", f.key)
		}
	}
	for _, want := range []string{
		"| `optim.batch_size` | int | `512` |",
		"| `data.mean` | list of float | `[0.485, 0.456, 0.406]` |",
		"| `model.bn_eps` | float | `1e-5` |",
		"| `runtime.target` | string | `\"\"` |",
		"| `runtime.devices` | list of string | `[]` |",
	} {
		if !strings.Contains(ref, want) {
			t.Errorf("reference lacks %q", want)
		}
	}
	if n := len(lines) - 2; n != len(schema().all) {
		t.Errorf("%d rows, want %d", n, len(schema().all))
	}
}

func TestLR(t *testing.T) {
	tests := []struct {
		baseLR float64
		batch  int
		want   float64
	}{
		{0.05, 512, 0.1},
		{0.05, 256, 0.05},
		{0.03, 512, 0.06},
		{0.06, 128, 0.03},
		{0.1, 64, 0.025},
	}
	for _, tt := range tests {
		c := Default()
		c.Optim.BaseLR, c.Optim.BatchSize = tt.baseLR, tt.batch
		c.Linear.BaseLR, c.Linear.BatchSize = tt.baseLR, tt.batch
		if got := c.LR(); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("LR(base %v, batch %d) = %v, want %v", tt.baseLR, tt.batch, got, tt.want)
		}
		if got := c.LinearLR(); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("LinearLR(base %v, batch %d) = %v, want %v", tt.baseLR, tt.batch, got, tt.want)
		}
	}
}

func TestLevenshtein(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "", 3},
		{"", "abc", 3},
		{"kitten", "sitting", 3},
		{"optim.batchsize", "optim.batch_size", 1},
		{"flaw", "lawn", 2},
		{"ümlaut", "umlaut", 1},
	}
	for _, tt := range tests {
		if got := levenshtein(tt.a, tt.b); got != tt.want {
			t.Errorf("levenshtein(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestFormatFloat(t *testing.T) {
	tests := map[float64]string{
		0:                  "0.0",
		1:                  "1.0",
		0.05:               "0.05",
		1e-4:               "0.0001",
		1e-5:               "1e-5",
		1.5e-300:           "1.5e-300",
		1e21:               "1e21",
		-2:                 "-2.0",
		1.3333333333333333: "1.3333333333333333",
		math.Inf(-1):       "-.inf",
	}
	for f, want := range tests {
		if got := formatFloat(f); got != want {
			t.Errorf("formatFloat(%v) = %q, want %q", f, got, want)
		}
	}
}

func TestDiff(t *testing.T) {
	a := Default()
	b := Default()
	if d := Diff(&a, &b); len(d) != 0 {
		t.Fatalf("equal configs differ: %v", d)
	}
	b.Model.Arch, b.Optim.Epochs, b.Data.Mean, b.Runtime.Devices = "resnet34", 200, []float64{0.5}, []string{"/device:CPU:0"}
	want := []Change{
		{"data.mean", "[0.485, 0.456, 0.406]", "[0.5]"},
		{"model.arch", "resnet50", "resnet34"},
		{"optim.epochs", "100", "200"},
		{"runtime.devices", "[]", "[/device:CPU:0]"},
	}
	if d := Diff(&a, &b); !reflect.DeepEqual(d, want) {
		t.Errorf("Diff = %v\nwant   %v", d, want)
	}
}

func TestLocalSide(t *testing.T) {
	for _, c := range []struct{ size, local, want int }{{28, 0, 14}, {32, 0, 16}, {96, 0, 48}, {27, 0, 14}, {28, 12, 12}} {
		if got := (Augment{LocalSize: c.local}).LocalSide(c.size); got != c.want {
			t.Errorf("LocalSide(%d) with local_size %d = %d, want %d", c.size, c.local, got, c.want)
		}
	}
}
