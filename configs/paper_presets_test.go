package configs

import (
	"slices"
	"testing"
)

// The CIFAR-10 preset is the SimSiam paper's CIFAR-10 recipe (appendix):
// a drift from it changes what docs/configuration.md's expected accuracy refers to.
// The projector has 2 layers there (3 in the ImageNet recipe).
func TestCIFAR10PresetIsThePapersRecipe(t *testing.T) {
	c, err := Load(LoadOptions{Preset: "cifar10_resnet18"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key       string
		got, want any
	}{
		{"model.arch", c.Model.Arch, "resnet18"},
		{"model.stem", c.Model.Stem, "cifar"},
		{"model.width", c.Model.Width, 64},
		{"model.proj_layers", c.Model.ProjLayers, 2},
		{"model.proj_dim", c.Model.ProjDim, 2048},
		{"model.pred_hidden", c.Model.PredHidden, 512},
		{"model.stop_gradient", c.Model.StopGradient, true},
		{"optim.batch_size", c.Optim.BatchSize, 512},
		{"optim.base_lr", c.Optim.BaseLR, 0.03},
		{"optim.weight_decay", c.Optim.WeightDecay, 5e-4},
		{"optim.momentum", c.Optim.Momentum, 0.9},
		{"optim.epochs", c.Optim.Epochs, 800},
		{"augment.blur_prob", c.Augment.BlurProb, 0.0},
		{"augment.solarize_prob", c.Augment.SolarizeProb, 0.0},
		{"augment.jitter_prob", c.Augment.JitterProb, 0.8},
		{"augment.grayscale_prob", c.Augment.GrayscaleProb, 0.2},
		{"augment.flip_prob", c.Augment.FlipProb, 0.5},
		{"data.image_size", c.Data.ImageSize, 32},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, the paper's CIFAR-10 recipe has %v", tc.key, tc.got, tc.want)
		}
	}
	if !slices.Equal(c.Augment.CropScale, []float64{0.2, 1}) {
		t.Errorf("augment.crop_scale = %v, want [0.2 1]", c.Augment.CropScale)
	}
	if lr := c.Optim.BaseLR * float64(c.Optim.BatchSize) / 256; lr != 0.06 {
		t.Errorf("lr = %v, want 0.03 * 512 / 256 = 0.06", lr)
	}
}
