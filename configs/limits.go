package configs

import (
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"
)

// Bounds on what [Load] reads, so that a file or an override of any size
// costs at most a few megabytes and a fraction of a second. A configuration
// is a few kilobytes: the presets are under 3 KiB, a rendered [Config.YAML]
// with every key and its comment about 17 KiB.
const (
	// MaxFileBytes bounds a configuration file; a larger one is refused
	// before it is parsed.
	MaxFileBytes = 1 << 20
	// MaxValueBytes bounds the text of one --set override or SIMSIAM_*
	// variable.
	MaxValueBytes = 64 << 10
	// MaxValueNodes bounds the YAML nodes of one key's value, counted with
	// every alias expanded, so that anchors and aliases ("billion laughs")
	// cannot make a short text decode to a huge value. The longest list of
	// a configuration has a few entries.
	MaxValueNodes = 4096
	// MaxErrors is the number of problems an error of [Load] lists; the
	// rest are counted ("... and 123 more").
	MaxErrors = 20
)

// readFile reads a configuration file of at most MaxFileBytes, refusing a
// larger one (or an endless stream such as /dev/zero) after reading one byte
// beyond the limit.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(data) > MaxFileBytes {
		size := "more than " + byteCount(MaxFileBytes)
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			size = byteCount(st.Size())
		}
		return nil, fmt.Errorf("%s is %s, over the limit of %s for a config file (a config is a few KB)", path, size, byteCount(MaxFileBytes))
	}
	return data, nil
}

// byteCount renders a size in bytes for a message: "1048576 bytes (1.0 MiB)".
func byteCount(n int64) string {
	if n < 1<<10 {
		return fmt.Sprintf("%d bytes", n)
	}
	unit, div := "KiB", float64(1<<10)
	if n >= 1<<20 {
		unit, div = "MiB", 1<<20
	}
	return fmt.Sprintf("%d bytes (%.1f %s)", n, float64(n)/div, unit)
}

// expandedNodes counts the nodes of n with every alias expanded, stopping
// once the count exceeds limit (it then returns limit+1), so that it is
// cheap on a billion laughs and ends on an alias that contains itself.
func expandedNodes(n *yaml.Node, limit int) int {
	count := 0
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		for ; n != nil && count <= limit; n = n.Alias {
			count++
			if n.Kind != yaml.AliasNode {
				break
			}
		}
		if n == nil || n.Kind == yaml.AliasNode {
			return
		}
		for _, c := range n.Content {
			if count > limit {
				return
			}
			walk(c)
		}
	}
	walk(n)
	return min(count, limit+1)
}

// decodeValue decodes the YAML value of one key, refusing one of more than
// MaxValueNodes nodes once its aliases are expanded.
func decodeValue(n *yaml.Node) (any, error) {
	if c := expandedNodes(n, MaxValueNodes); c > MaxValueNodes {
		return nil, fmt.Errorf("the value has more than %d YAML nodes (aliases expanded); a key takes a number, a string or a short list", MaxValueNodes)
	}
	var raw any
	if err := n.Decode(&raw); err != nil {
		return nil, err
	}
	return raw, nil
}

// joinErrors joins errs as errors.Join does, listing at most MaxErrors of
// them and the number of the others.
func joinErrors(errs []error) error {
	if len(errs) <= MaxErrors {
		return errors.Join(errs...)
	}
	shown := append(errs[:MaxErrors:MaxErrors], fmt.Errorf("... and %d more", len(errs)-MaxErrors))
	return errors.Join(shown...)
}

// clip is text for a message, cut to its first 60 bytes when longer than
// 200.
func clip(text string) string {
	if len(text) <= 200 {
		return text
	}
	return fmt.Sprintf("%s... (%d bytes)", text[:60], len(text))
}

// excerpt quotes text for a message, cut to its first 60 bytes when longer.
func excerpt(text string) string {
	const n = 60
	if len(text) <= n {
		return fmt.Sprintf("%q", text)
	}
	return fmt.Sprintf("%q... (%d bytes)", text[:n], len(text))
}
