package sysinfo

import (
	"strings"
	"testing"
)

func TestParseMemAvailable(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"MemTotal:       24600000 kB\nMemFree:  100 kB\nMemAvailable:   20000000 kB\n", 20000000 << 10},
		{"MemTotal: 1 kB\n", 0},
		{"MemAvailable: lots kB\n", 0},
		{"MemAvailable:\n", 0},
	} {
		if got := ParseMemAvailable(strings.NewReader(tc.in)); got != tc.want {
			t.Errorf("%q: %d, want %d", tc.in, got, tc.want)
		}
	}
	if m := ReadMemory(); m.Available <= 0 || m.Source == "" {
		t.Errorf("ReadMemory on this machine = %+v, want a positive figure and its source", m)
	}
}
