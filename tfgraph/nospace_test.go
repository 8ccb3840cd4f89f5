package tfgraph

import (
	"errors"
	"strings"
	"syscall"
	"testing"
)

// TestNoSpace: a TensorFlow error on a full disk (here SaveV2's) keeps TensorFlow's message
// up to the OOM advice, which it drops, and says ENOSPC to errors.Is; other
// errors pass unchanged.
func TestNoSpace(t *testing.T) {
	full := "/out/ckpt.tempstate123; No space left on device\n\t [[{{node save/SaveV2}}]]\n" +
		oomHint + " information. This isn't available when running in Eager mode.\n"
	cases := []struct {
		name, msg, want string
		enospc          bool
	}{
		{"full disk", full, "/out/ckpt.tempstate123; No space left on device\n\t [[{{node save/SaveV2}}]]", true},
		{"full disk, no hint", "x; No space left on device", "x; No space left on device", true},
		{"out of memory", "OOM when allocating tensor\n" + oomHint, "OOM when allocating tensor\n" + oomHint, false},
		{"other", "permission denied", "permission denied", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			orig := errors.New(c.msg)
			got := noSpace(orig)
			if got.Error() != c.want {
				t.Errorf("message %q, want %q", got.Error(), c.want)
			}
			if errors.Is(got, syscall.ENOSPC) != c.enospc {
				t.Errorf("errors.Is ENOSPC = %v, want %v", !c.enospc, c.enospc)
			}
			if !errors.Is(got, orig) {
				t.Error("the TensorFlow error is not wrapped")
			}
			if c.enospc && strings.Contains(got.Error(), "OOM") {
				t.Error("the OOM advice is still there")
			}
		})
	}
}
