package main

import (
	"slices"
	"testing"
)

func TestOneDNNEnvValue(t *testing.T) {
	tests := []struct {
		name                string
		want, enabled, know bool
		cur                 string
		set                 bool
		value               string
		warn                bool
	}{
		{"already on", true, true, true, "", false, "", false},
		{"already off", false, false, true, "0", true, "", false},
		{"unknown library state", true, false, false, "", false, "", false},
		{"turn on from unset", true, false, true, "", false, "1", false},
		{"turn on against the user's 0", true, false, true, "0", true, "1", false},
		{"turn off", false, true, true, "", false, "0", false},
		{"turn off against the user's 1", false, true, true, "1", true, "0", false},
		// The variable already asks for oneDNN and TF still says off: a
		// restart would loop, so warn instead.
		{"build without oneDNN", true, false, true, "1", true, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			value, warning := oneDNNEnvValue(tc.want, tc.enabled, tc.know, tc.cur, tc.set)
			if value != tc.value {
				t.Errorf("value = %q, want %q", value, tc.value)
			}
			if (warning != "") != tc.warn {
				t.Errorf("warning = %q, want one: %v", warning, tc.warn)
			}
		})
	}
}

func TestWithEnvReplaces(t *testing.T) {
	got := withEnv([]string{"A=1", "TF_ENABLE_ONEDNN_OPTS=0", "B=2", "TF_ENABLE_ONEDNN_OPTS=0"}, []string{"TF_ENABLE_ONEDNN_OPTS=1"})
	want := []string{"A=1", "B=2", "TF_ENABLE_ONEDNN_OPTS=1"}
	if !slices.Equal(got, want) {
		t.Errorf("withEnv = %q, want %q", got, want)
	}
}
