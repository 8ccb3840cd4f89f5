package train

import "testing"

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
	} {
		if got := ruleFor(tc.key); got != tc.want {
			t.Errorf("ruleFor(%q) = %d, want %d", tc.key, got, tc.want)
		}
	}
}
