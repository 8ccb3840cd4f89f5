package train

import (
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/configs"
)

func TestResumeKeyRules(t *testing.T) {
	for _, tc := range []struct {
		key  string
		want keyRule
	}{
		{"seed", ruleRefuse},
		{"model.arch", ruleRefuse},
		{"augment.flip_prob", ruleRefuse},
		{"data.limit", ruleRefuse},
		{"optim.batch_size", ruleRefuse},
		{"optim.epochs", ruleSchedule},
		{"train.max_steps", ruleSchedule},
		{"optim.base_lr", ruleAllow},
		{"train.skip_nonfinite_steps", ruleAllow},
		{"runtime.precision", ruleAllow},
		{"eval.dir", ruleAllow},
		{"data.prefetch", ruleAllow},
		{"method.name", ruleRefuse},
		{"method.simclr.temperature", ruleRefuse},
	} {
		if got := ruleFor(tc.key); got != tc.want {
			t.Errorf("ruleFor(%q) = %d, want %d", tc.key, got, tc.want)
		}
	}
}

// TestResumeRefusesAMethodChange checks that resuming a run with another
// method.name is refused, naming the key and both methods.
func TestResumeRefusesAMethodChange(t *testing.T) {
	prev := configs.Default()
	cfg := configs.Default()
	cfg.Method.Name = "simclr"
	_, _, err := checkResume(&prev, nil, &cfg, 100)
	if err == nil || !strings.Contains(err.Error(), "method.name: simsiam -> simclr") {
		t.Errorf("err = %v, want a refusal naming method.name: simsiam -> simclr", err)
	}
	if _, _, err := checkResume(&prev, nil, &prev, 100); err != nil {
		t.Errorf("the same method: %v", err)
	}
}
