package train

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/simsiam-go/simsiam/configs"
)

// localKeys are the keys the workers of one job may set differently: where
// each finds its data and writes (only the chief writes output_dir), and how
// its own process runs. Every other key changes what or how the job trains
// (the model, the global batch, the learning rate, the seed, when
// checkpoints and barriers come, the timeouts), so the workers must agree
// on it.
var localKeys = map[string]bool{
	"output_dir": true, "data.dir": true, "eval.dir": true,
	"runtime.devices": true, "runtime.intra_op_threads": true, "runtime.inter_op_threads": true,
	"runtime.target": true, "runtime.xla": true, "runtime.onednn": true, "runtime.gpu_memory_growth": true,
	"train.log_every": true,
}

// agreedConfig is the text the workers compare at the start barrier: one
// "key: value" line for every key that must agree, in the reference's order.
func agreedConfig(cfg *configs.Config) string {
	var b strings.Builder
	for _, kv := range configs.Values(cfg) {
		if !localKeys[kv.Key] {
			fmt.Fprintf(&b, "%s: %s\n", kv.Key, kv.Value)
		}
	}
	return b.String()
}

// configCheckLen is the length of the vector the chief's agreed config
// travels in (one float64 per byte, through the all-reduce the start
// barrier uses): its SHA-256, its length, then as much of the text as fits.
const configCheckLen = 16384

// encodeAgreed packs text for the config check.
func encodeAgreed(text string) []float64 {
	sum := sha256.Sum256([]byte(text))
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(text)))
	raw := append(append(sum[:], n[:]...), text...)
	out := make([]float64, configCheckLen)
	for i := 0; i < len(raw) && i < len(out); i++ {
		out[i] = float64(raw[i])
	}
	return out
}

// decodeAgreed unpacks what encodeAgreed packed: the hash, and the text when
// it fitted whole (complete).
func decodeAgreed(v []float64) (sum [32]byte, text string, complete bool, err error) {
	if len(v) != configCheckLen {
		return sum, "", false, fmt.Errorf("config check: %d values, want %d", len(v), configCheckLen)
	}
	raw := make([]byte, len(v))
	for i, x := range v {
		if x < 0 || x > 255 || x != float64(byte(x)) {
			return sum, "", false, fmt.Errorf("config check: value %v at %d is not a byte (was the chief alone in contributing?)", x, i)
		}
		raw[i] = byte(x)
	}
	copy(sum[:], raw[:32])
	n := int(binary.BigEndian.Uint32(raw[32:36]))
	body := raw[36:]
	if n <= len(body) {
		return sum, string(body[:n]), true, nil
	}
	return sum, "", false, nil
}

// agreeWithChief compares this worker's agreed config with the chief's
// (as decoded from the check vector) and describes every key that
// differs, or returns "" when they agree.
func agreeWithChief(own string, chief []float64) (string, error) {
	sum, text, complete, err := decodeAgreed(chief)
	if err != nil {
		return "", err
	}
	if sum == sha256.Sum256([]byte(own)) {
		return "", nil
	}
	if !complete {
		return "the chief's config differs from this worker's (too long to list the keys)", nil
	}
	mine, theirs := lines(own), lines(text)
	var diffs []string
	for _, k := range keyOrder(own, text) {
		if mine[k] != theirs[k] {
			diffs = append(diffs, fmt.Sprintf("%s (here %s, the chief %s)", k, orNone(mine[k]), orNone(theirs[k])))
		}
	}
	return strings.Join(diffs, ", "), nil
}

func lines(text string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if k, v, ok := strings.Cut(l, ": "); ok {
			m[k] = v
		}
	}
	return m
}

// keyOrder lists the keys of both texts, a's order first.
func keyOrder(a, b string) []string {
	seen := map[string]bool{}
	var out []string
	for _, text := range []string{a, b} {
		for _, l := range bytes.Split([]byte(text), []byte("\n")) {
			k, _, ok := strings.Cut(string(l), ": ")
			if ok && !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "(unset)"
	}
	return s
}
