package progress

import (
	"bytes"
	"strings"
	"testing"
)

func TestPlainLinesAtInterval(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, "step", 10, 4)
	for i := int64(1); i <= 10; i++ {
		b.Update(i, "loss", "0.5")
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 { // 4, 8 and the final 10
		t.Fatalf("got %d lines:\n%s", len(lines), buf.String())
	}
	if !strings.HasPrefix(lines[0], "step 4/10 loss 0.5 eta") || !strings.HasPrefix(lines[2], "step 10/10 loss 0.5 in") {
		t.Errorf("lines:\n%s", buf.String())
	}
	if strings.Contains(buf.String(), "\r") {
		t.Error("carriage return written to a non-terminal")
	}
	b.Update(11)
	if n := strings.Count(buf.String(), "\n"); n != 3 {
		t.Errorf("updates after the end were printed (%d lines)", n)
	}
}
