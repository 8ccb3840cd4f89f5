package tfgraph

import (
	"slices"
	"strings"
	"testing"

	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/proto"
)

func TestParseDevice(t *testing.T) {
	tests := []struct {
		name string
		want DeviceSpec
		bad  bool
	}{
		{"/device:GPU:0", DeviceSpec{Replica: -1, Task: -1, Type: "GPU", ID: 0}, false},
		{"/gpu:1", DeviceSpec{Replica: -1, Task: -1, Type: "GPU", ID: 1}, false},
		{"/job:worker/replica:0/task:1/device:CPU:0", DeviceSpec{Job: "worker", Replica: 0, Task: 1, Type: "CPU", ID: 0}, false},
		{"/job:worker/task:2", DeviceSpec{Job: "worker", Replica: -1, Task: 2, ID: -1}, false},
		{"/device:gpu:*", DeviceSpec{Replica: -1, Task: -1, Type: "GPU", ID: -1}, false},
		{"GPU:0", DeviceSpec{}, true},
		{"/device:GPU:x", DeviceSpec{}, true},
		{"/task:-1", DeviceSpec{}, true},
		{"", DeviceSpec{}, true},
	}
	for _, tt := range tests {
		got, err := ParseDevice(tt.name)
		if (err != nil) != tt.bad {
			t.Errorf("ParseDevice(%q) error %v, want error %v", tt.name, err, tt.bad)
			continue
		}
		if !tt.bad && got != tt.want {
			t.Errorf("ParseDevice(%q) = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestHostDevice(t *testing.T) {
	for in, want := range map[string]string{
		"":                                "/device:CPU:0",
		"/device:GPU:1":                   "/device:CPU:0",
		"/gpu:0":                          "/device:CPU:0",
		"/job:worker/task:1/device:GPU:0": "/job:worker/task:1/device:CPU:0",
		"/job:worker/task:1/gpu:0":        "/job:worker/task:1/device:CPU:0",
		"/job:worker/task:1":              "/job:worker/task:1/device:CPU:0",
	} {
		if got := HostDevice(in); got != want {
			t.Errorf("HostDevice(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestResolveDevices(t *testing.T) {
	cpu := []Device{{Name: "/job:localhost/replica:0/task:0/device:CPU:0", Type: "CPU"}}
	gpus := append(append([]Device(nil), cpu...),
		Device{Name: "/job:localhost/replica:0/task:0/device:GPU:0", Type: "GPU"},
		Device{Name: "/job:localhost/replica:0/task:0/device:GPU:1", Type: "GPU"})
	tests := []struct {
		name    string
		want    []string
		visible []Device
		out     []string
		err     string
	}{
		{"empty picks the CPU without a GPU", nil, cpu, []string{"/device:CPU:0"}, ""},
		{"empty picks GPU:0", nil, gpus, []string{"/device:GPU:0"}, ""},
		{"two GPUs", []string{"/device:GPU:0", "/gpu:1"}, gpus, []string{"/device:GPU:0", "/gpu:1"}, ""},
		{"GPU on a CPU machine", []string{"/device:GPU:0", "/device:GPU:1"}, cpu, nil,
			"runtime.devices names /device:GPU:0, which TensorFlow does not see; it sees /job:localhost/replica:0/task:0/device:CPU:0"},
		{"third GPU", []string{"/device:GPU:2"}, gpus, nil, "does not see"},
		{"other job", []string{"/job:worker/task:0/device:CPU:0"}, cpu, nil, "does not see"},
		{"malformed", []string{"GPU0"}, gpus, nil, "runtime.devices: device \"GPU0\""},
		{"nothing visible", nil, nil, nil, "no devices"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResolveDevices(tt.want, tt.visible)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.out) {
				t.Fatalf("got %v, %v; want %v", got, err, tt.out)
			}
		})
	}
}

// TestListDevicesHere: the CPU is always there, with the options the real
// sessions use.
func TestListDevicesHere(t *testing.T) {
	ds, err := ListDevices(SessionOptions{GPUMemoryGrowth: true, AllowSoftPlacement: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ResolveDevices([]string{"/device:CPU:0"}, ds)
	if err != nil || len(got) != 1 {
		t.Fatalf("the CPU is not among %v: %v", ds, err)
	}
}

func TestGraphDeviceAndHostScope(t *testing.T) {
	g := NewGraph()
	g.SetDevice("/job:worker/task:1/device:GPU:0")
	a := g.Root().Const("a", float32(1))
	b := g.Root().OnHost().Const("b", "file")
	c := g.Root().WithDevice("/device:GPU:1").Const("c", float32(2))
	for op, want := range map[*Operation]string{a.Op: "/job:worker/task:1/device:GPU:0",
		b.Op: "/job:worker/task:1/device:CPU:0", c.Op: "/device:GPU:1"} {
		if got := op.Device(); got != want {
			t.Errorf("%s on %q, want %q", op.Name(), got, want)
		}
	}
	sv := NewSaver(g, "save", []*Variable{g.Root().Var("v", []int64{2}, Zeros(), 0)})
	if g.Err() != nil {
		t.Fatal(g.Err())
	}
	for _, name := range []string{"save/SaveV2", "save/RestoreV2"} {
		if got := g.Operation(name).Device(); got != "/job:worker/task:1/device:CPU:0" {
			t.Errorf("%s on %q, want the host", name, got)
		}
	}
	if got := sv.Restore.Device(); got == "/job:worker/task:1/device:CPU:0" {
		t.Errorf("restore_all is on the host; the assignments belong with the variables")
	}
}

func TestConfigProtoGPUMemoryGrowth(t *testing.T) {
	for _, growth := range []bool{false, true} {
		b, err := SessionOptions{GPUMemoryGrowth: growth}.ConfigProto()
		if err != nil {
			t.Fatal(err)
		}
		var c pb.ConfigProto
		if err := proto.Unmarshal(b, &c); err != nil {
			t.Fatal(err)
		}
		if got := c.GetGpuOptions().GetAllowGrowth(); got != growth {
			t.Errorf("GPUMemoryGrowth %v: gpu_options.allow_growth %v", growth, got)
		}
	}
}
