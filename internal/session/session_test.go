package session

import (
	"slices"
	"testing"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// TestDevice: the first of runtime.devices, or "" for the placer.
func TestDevice(t *testing.T) {
	for _, tc := range []struct {
		devices []string
		want    string
	}{
		{nil, ""},
		{[]string{"/device:CPU:0"}, "/device:CPU:0"},
		{[]string{"/device:GPU:1", "/device:GPU:0"}, "/device:GPU:1"},
	} {
		cfg := configs.Default()
		cfg.Runtime.Devices = tc.devices
		if got := Device(&cfg); got != tc.want {
			t.Errorf("Device(%v) = %q, want %q", tc.devices, got, tc.want)
		}
	}
}

// TestOptionsCarryTheRuntime: every runtime key a session honours reaches
// its options, and the precision is the resolved one.
func TestOptionsCarryTheRuntime(t *testing.T) {
	r := configs.Default().Runtime
	r.Target, r.IntraOpThreads, r.InterOpThreads, r.XLA, r.GPUMemoryGrowth, r.Precision = "grpc://h:1", 3, 2, true, true, "fp32"
	got := Options(r)
	want := tfgraph.SessionOptions{Target: "grpc://h:1", IntraOpThreads: 3, InterOpThreads: 2, XLA: true,
		AllowSoftPlacement: true, GPUMemoryGrowth: true, Precision: tfgraph.PrecisionFP32}
	if got.Target != want.Target || got.IntraOpThreads != want.IntraOpThreads || got.InterOpThreads != want.InterOpThreads ||
		got.XLA != want.XLA || got.AllowSoftPlacement != want.AllowSoftPlacement || got.GPUMemoryGrowth != want.GPUMemoryGrowth || got.Precision != want.Precision {
		t.Errorf("Options = %+v, want %+v", got, want)
	}
}

// TestResolveDevicesOnThisMachine: an empty runtime.devices picks a device
// TensorFlow sees, WithDevices writes it into a copy, and a device that is
// not there is an error.
func TestResolveDevicesOnThisMachine(t *testing.T) {
	cfg := configs.Default()
	cfg.Runtime.Devices = nil
	devs, err := ResolveDevices(cfg.Runtime)
	if err != nil || len(devs) == 0 {
		t.Fatalf("ResolveDevices = %v, %v; want at least one device", devs, err)
	}
	placed, err := WithDevices(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(placed.Runtime.Devices, devs) || cfg.Runtime.Devices != nil {
		t.Errorf("WithDevices: copy has %v (want %v), original %v (want nil)", placed.Runtime.Devices, devs, cfg.Runtime.Devices)
	}
	cfg.Runtime.Devices = []string{"/device:CPU:7"}
	if _, err := ResolveDevices(cfg.Runtime); err == nil {
		t.Error("ResolveDevices accepted /device:CPU:7")
	}
}
