package tfgraph

import (
	"fmt"

	tf "github.com/wamuir/graft/tensorflow"
)

// Group is a collective group: the processes (one device each) that
// all-reduce together. Every member builds its collective ops with the same
// Group and the same instance keys, in the same order.
type Group struct {
	// Size is the number of members, Key the group's key (the same on all).
	Size, Key int32
	// Hint is the implementation: "ring" (CPU, gRPC) or "nccl" (GPUs).
	Hint string
}

// AllReduce averages (final "Div") or sums (final "Id") x over the group:
// TensorFlow's CollectiveReduceV2 with merge Add. instance identifies this
// reduction among the group's: the same key is reused by every Session.Run.
// timeout (seconds, > 0) bounds the wait for the other members, after which
// the op fails with "Collective has timed out".
func (s *Scope) AllReduce(name string, x Output, g Group, instance int32, final string, timeout float32) Output {
	if final != "Div" && final != "Id" {
		s.Fail(fmt.Errorf("AllReduce %s: final op %q, want Div or Id", name, final))
		return Output{}
	}
	if timeout <= 0 {
		s.Fail(fmt.Errorf("AllReduce %s: timeout %g s, want > 0 (a dead peer would block forever)", name, timeout))
		return Output{}
	}
	c := s.Child(name)
	return c.out("CollectiveReduceV2", "all_reduce", map[string]any{
		"merge_op": "Add", "final_op": final, "communication_hint": g.Hint, "timeout_seconds": timeout,
	}, x, c.Const("group_size", g.Size), c.Const("group_key", g.Key), c.Const("instance_key", instance), tf.OutputList(nil))
}

// Pack1D flattens xs (all of one dtype) into one vector, in order.
func (s *Scope) Pack1D(xs []Output) Output {
	flat := make([]Output, len(xs))
	for i, x := range xs {
		flat[i] = s.Reshape(x, -1)
	}
	if len(flat) == 1 {
		return flat[0]
	}
	return s.Concat(0, flat...)
}

// Unpack1D is the inverse of Pack1D: it slices v into tensors of the given
// shapes (fully known).
func (s *Scope) Unpack1D(v Output, shapes [][]int64) []Output {
	out := make([]Output, len(shapes))
	var off int64
	for i, dims := range shapes {
		n := int64(1)
		d32 := make([]int32, len(dims))
		for j, d := range dims {
			n *= d
			d32[j] = int32(d)
		}
		out[i] = s.Reshape(s.Slice(v, []int32{int32(off)}, []int32{int32(n)}), d32...)
		off += n
	}
	return out
}
