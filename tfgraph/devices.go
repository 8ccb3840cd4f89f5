package tfgraph

import (
	"fmt"
	"strconv"
	"strings"
)

// DeviceSpec is a parsed TensorFlow device name such as
// "/job:worker/replica:0/task:1/device:GPU:0". Empty fields and -1 numbers
// are unspecified and match anything.
type DeviceSpec struct {
	Job           string
	Replica, Task int
	Type          string // upper case: "CPU", "GPU"
	ID            int
}

// ParseDevice parses a device name in TensorFlow's syntax, the legacy short
// forms ("/gpu:0", "/cpu:0") included.
func ParseDevice(name string) (DeviceSpec, error) {
	d := DeviceSpec{Replica: -1, Task: -1, ID: -1}
	if strings.TrimSpace(name) == "" {
		return d, fmt.Errorf("empty device name")
	}
	bad := func(why string) (DeviceSpec, error) {
		return DeviceSpec{}, fmt.Errorf("device %q: %s (want e.g. /device:GPU:0 or /job:worker/task:1/device:GPU:0)", name, why)
	}
	if !strings.HasPrefix(name, "/") {
		return bad("does not start with /")
	}
	num := func(s string) (int, bool) {
		if s == "*" {
			return -1, true
		}
		n, err := strconv.Atoi(s)
		return n, err == nil && n >= 0
	}
	for _, part := range strings.Split(name[1:], "/") {
		f := strings.Split(part, ":")
		var ok bool
		switch {
		case len(f) == 2 && f[0] == "job" && f[1] != "":
			d.Job, ok = f[1], true
		case len(f) == 2 && f[0] == "replica":
			d.Replica, ok = num(f[1])
		case len(f) == 2 && f[0] == "task":
			d.Task, ok = num(f[1])
		case len(f) == 3 && f[0] == "device" && f[1] != "":
			d.Type = strings.ToUpper(f[1])
			d.ID, ok = num(f[2])
		case len(f) == 2 && (strings.EqualFold(f[0], "cpu") || strings.EqualFold(f[0], "gpu")):
			d.Type = strings.ToUpper(f[0])
			d.ID, ok = num(f[1])
		}
		if !ok {
			return bad(fmt.Sprintf("cannot read %q", part))
		}
	}
	return d, nil
}

// Matches reports whether the fully specified device full (a name
// TensorFlow lists) is one d names.
func (d DeviceSpec) Matches(full DeviceSpec) bool {
	return (d.Job == "" || d.Job == full.Job) && (d.Replica < 0 || d.Replica == full.Replica) &&
		(d.Task < 0 || d.Task == full.Task) && (d.Type == "" || d.Type == full.Type) && (d.ID < 0 || d.ID == full.ID)
}

// HostDevice is the CPU of the task device runs on: "/device:GPU:1" gives
// "/device:CPU:0", "/job:worker/task:1/device:GPU:0" gives
// "/job:worker/task:1/device:CPU:0", "" gives "/device:CPU:0".
func HostDevice(device string) string {
	if d, err := ParseDevice(device); err == nil && d.Type != "" {
		device = device[:strings.LastIndex(device, "/")] // drop the device part, keep the task
	}
	return strings.TrimSuffix(device, "/") + "/device:CPU:0"
}

// ListDevices starts an empty session with o (the same options the real
// sessions use: the first session of a process fixes GPU options such as
// memory growth) and returns the devices TensorFlow sees there.
func ListDevices(o SessionOptions) ([]Device, error) {
	g := NewGraph()
	g.Root().Op("NoOp", "noop", nil, nil)
	s, err := NewSession(g, o)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.Devices()
}

// Device is one device a TensorFlow session sees.
type Device struct {
	Name        string // "/job:localhost/replica:0/task:0/device:GPU:0"
	Type        string // "CPU", "GPU"
	MemoryBytes int64
}

func (d Device) String() string { return fmt.Sprintf("%s (%s)", d.Name, d.Type) }

// ResolveDevices checks that every device in want is one TensorFlow sees
// (visible) and returns want. An empty want picks the first GPU when one is
// visible, else the first CPU, so nothing falls back to the CPU unseen. An
// unknown device is an error that lists the visible ones.
func ResolveDevices(want []string, visible []Device) ([]string, error) {
	var specs []DeviceSpec
	names := make([]string, len(visible))
	for i, v := range visible {
		s, err := ParseDevice(v.Name)
		if err != nil {
			return nil, fmt.Errorf("TensorFlow lists a device as %q: %w", v.Name, err)
		}
		specs = append(specs, s)
		names[i] = v.Name
	}
	seen := strings.Join(names, ", ")
	if len(visible) == 0 {
		return nil, fmt.Errorf("TensorFlow lists no devices")
	}
	if len(want) == 0 {
		for _, typ := range []string{"GPU", "CPU"} {
			for _, s := range specs {
				if s.Type == typ {
					return []string{fmt.Sprintf("/device:%s:%d", typ, s.ID)}, nil
				}
			}
		}
		return nil, fmt.Errorf("TensorFlow sees neither a GPU nor a CPU (devices: %s)", seen)
	}
	for _, w := range want {
		ws, err := ParseDevice(w)
		if err != nil {
			return nil, fmt.Errorf("runtime.devices: %w", err)
		}
		found := false
		for _, s := range specs {
			if ws.Matches(s) {
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("runtime.devices names %s, which TensorFlow does not see; it sees %s", w, seen)
		}
	}
	return want, nil
}
