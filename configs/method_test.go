package configs

import (
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestMethodKeys checks method.name and the methods' own keys through Load:
// an unknown method is an error naming the key and the methods there are,
// a key of another method than method.name is an error naming that key
// (and only it), and a method's own keys are accepted with it.
func TestMethodKeys(t *testing.T) {
	tests := []struct {
		name string
		sets []string
		// keys are the failing keys; nil means Load succeeds.
		keys []string
		// text must appear in the error.
		text string
	}{
		{"default is simsiam", nil, nil, ""},
		{"simclr with its temperature", []string{"method.name=simclr", "method.simclr.temperature=0.5"}, nil, ""},
		{"barlow twins with its lambda", []string{"method.name=barlow_twins", "method.barlow_twins.lambda=0.01"}, nil, ""},
		{"unknown method", []string{"method.name=moco"}, []string{"method.name"}, "barlow_twins, byol, simclr, simsiam"},
		{"simclr temperature in a simsiam config", []string{"method.simclr.temperature=0.2"}, []string{"method.simclr.temperature"}, "method.name simsiam"},
		{"barlow twins lambda in a simclr config", []string{"method.name=simclr", "method.barlow_twins.lambda=0.01"}, []string{"method.barlow_twins.lambda"}, "method.name simclr"},
		{"both in a simsiam config", []string{"method.simclr.temperature=0.2", "method.barlow_twins.lambda=0.01"}, []string{"method.barlow_twins.lambda", "method.simclr.temperature"}, ""},
		{"byol with its tau_base", []string{"method.name=byol", "method.byol.tau_base=0.99"}, nil, ""},
		{"byol tau_base in a simsiam config", []string{"method.byol.tau_base=0.99"}, []string{"method.byol.tau_base"}, "method.name simsiam"},
		{"tau_base at most 1", []string{"method.name=byol", "method.byol.tau_base=1.5"}, []string{"method.byol.tau_base"}, ""},
		{"temperature must be positive", []string{"method.name=simclr", "method.simclr.temperature=0"}, []string{"method.simclr.temperature"}, ""},
		{"lambda must not be negative", []string{"method.name=barlow_twins", "method.barlow_twins.lambda=-1"}, []string{"method.barlow_twins.lambda"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(LoadOptions{Preset: "fashion_mnist_demo", Sets: tt.sets})
			if tt.keys == nil {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if c.Method.Name == "" {
					t.Error("no method.name")
				}
				return
			}
			if err == nil {
				t.Fatalf("Load succeeded, want errors on %v", tt.keys)
			}
			for _, k := range tt.keys {
				if !strings.Contains(err.Error(), k) {
					t.Errorf("error %q does not name %s", err, k)
				}
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not say %q", err, tt.text)
			}
			// Validate of the same values fails on exactly these keys.
			d := Default()
			for _, s := range tt.sets {
				k, v, _ := strings.Cut(s, "=")
				f, _ := strconv.ParseFloat(v, 64)
				switch k {
				case "method.name":
					d.Method.Name = v
				case "method.simclr.temperature":
					d.Method.SimCLR.Temperature = f
				case "method.barlow_twins.lambda":
					d.Method.BarlowTwins.Lambda = f
				case "method.byol.tau_base":
					d.Method.BYOL.TauBase = f
				}
			}
			if got := failingKeys(d.Validate(false)); !slices.Equal(got, tt.keys) {
				t.Errorf("Validate fails on %v, want %v", got, tt.keys)
			}
		})
	}
}
