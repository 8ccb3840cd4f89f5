package tfgraph

import (
	"fmt"

	tf "github.com/wamuir/graft/tensorflow"
	fpb "github.com/wamuir/graft/tensorflow/core/framework/attr_value_go_proto"
	funcpb "github.com/wamuir/graft/tensorflow/core/framework/function_go_proto"
	gpb "github.com/wamuir/graft/tensorflow/core/framework/graph_go_proto"
	npb "github.com/wamuir/graft/tensorflow/core/framework/node_def_go_proto"
	opb "github.com/wamuir/graft/tensorflow/core/framework/op_def_go_proto"
	tpb "github.com/wamuir/graft/tensorflow/core/framework/types_go_proto"
	"google.golang.org/protobuf/proto"
)

// gradientKeyOffset separates the instance keys of the backward
// all-reduces from the forward ones.
const gradientKeyOffset = 1 << 20

// AllReduceSumDiff is a differentiable sum all-reduce of the float32
// tensor x over the group: its gradient with respect to x is the sum
// all-reduce of the incoming gradient (instance key instance+2^20), the
// gradient of a sum over every member's input. Collective ops have no
// registered gradient, so the reduction is a graph function called through
// StatefulPartitionedCall with a gradient function in the graph's library:
// TensorFlow's gradient of the call is a SymbolicGradient, which runs that
// function.
func (s *Scope) AllReduceSumDiff(name string, x Output, g Group, instance int32, timeout float32) Output {
	if s.g.err != nil {
		return Output{}
	}
	if timeout <= 0 {
		s.Fail(fmt.Errorf("AllReduceSumDiff %s: timeout %g s, want > 0", name, timeout))
		return Output{}
	}
	fn := fmt.Sprintf("simsiam_all_reduce_sum_%s_%d", g.Hint, int64(timeout*1000))
	if s.g.funcs == nil {
		s.g.funcs = map[string]bool{}
	}
	def := &gpb.GraphDef{}
	if !s.g.funcs[fn] {
		def.Library = allReduceLibrary(fn, g.Hint, timeout)
	}
	c := s.Child(name)
	inputs := []Output{x, c.Const("group_size", g.Size), c.Const("group_key", g.Key), c.Const("instance_key", instance),
		c.Const("gradient_instance_key", instance+gradientKeyOffset)}
	if s.g.err != nil {
		return Output{}
	}
	types := []tpb.DataType{tpb.DataType_DT_FLOAT, tpb.DataType_DT_INT32, tpb.DataType_DT_INT32, tpb.DataType_DT_INT32, tpb.DataType_DT_INT32}
	call := &npb.NodeDef{Name: "call", Op: "StatefulPartitionedCall", Attr: map[string]*fpb.AttrValue{
		"Tin":           {Value: &fpb.AttrValue_List{List: &fpb.AttrValue_ListValue{Type: types}}},
		"Tout":          {Value: &fpb.AttrValue_List{List: &fpb.AttrValue_ListValue{Type: types[:1]}}},
		"f":             {Value: &fpb.AttrValue_Func{Func: &fpb.NameAttrList{Name: fn}}},
		"config":        {Value: &fpb.AttrValue_S{S: nil}},
		"config_proto":  {Value: &fpb.AttrValue_S{S: nil}},
		"executor_type": {Value: &fpb.AttrValue_S{S: nil}},
	}}
	var opts tf.GraphImportOptions
	for i, in := range inputs {
		ph := fmt.Sprintf("in%d", i)
		def.Node = append(def.Node, &npb.NodeDef{Name: ph, Op: "Placeholder", Attr: map[string]*fpb.AttrValue{"dtype": {Value: &fpb.AttrValue_Type{Type: types[i]}}}})
		call.Input = append(call.Input, ph)
		opts.AddInputMapping(ph, 0, in)
	}
	def.Node = append(def.Node, call)
	b, err := proto.Marshal(def)
	if err != nil {
		s.Fail(err)
		return Output{}
	}
	prefix := s.g.uniqueName(join(c.ns, "all_reduce"))
	opts.Prefix, opts.Device = prefix, s.device
	if err := s.g.g.ImportWithOptions(b, opts); err != nil {
		s.Fail(fmt.Errorf("AllReduceSumDiff %s: %w", name, err))
		return Output{}
	}
	s.g.funcs[fn] = true
	op := s.g.g.Operation(prefix + "/call")
	if op == nil {
		s.Fail(fmt.Errorf("AllReduceSumDiff %s: imported call not found", name))
		return Output{}
	}
	return op.Output(0)
}

// allReduceLibrary is the function fn (x, size, group, key, grad_key) ->
// all-reduce sum of x, and its gradient function.
func allReduceLibrary(fn, hint string, timeout float32) *funcpb.FunctionDefLibrary {
	arg := func(name string, t tpb.DataType) *opb.OpDef_ArgDef { return &opb.OpDef_ArgDef{Name: name, Type: t} }
	f32, i32 := tpb.DataType_DT_FLOAT, tpb.DataType_DT_INT32
	ins := []*opb.OpDef_ArgDef{arg("x", f32), arg("size", i32), arg("group", i32), arg("key", i32), arg("grad_key", i32)}
	reduce := func(name, in, key string) *npb.NodeDef {
		return &npb.NodeDef{Name: name, Op: "CollectiveReduceV2", Input: []string{in, "size", "group", key}, Attr: map[string]*fpb.AttrValue{
			"T":                      {Value: &fpb.AttrValue_Type{Type: f32}},
			"merge_op":               {Value: &fpb.AttrValue_S{S: []byte("Add")}},
			"final_op":               {Value: &fpb.AttrValue_S{S: []byte("Id")}},
			"communication_hint":     {Value: &fpb.AttrValue_S{S: []byte(hint)}},
			"timeout_seconds":        {Value: &fpb.AttrValue_F{F: timeout}},
			"Nordering_token":        {Value: &fpb.AttrValue_I{I: 0}},
			"is_stateless":           {Value: &fpb.AttrValue_B{B: false}},
			"max_subdivs_per_device": {Value: &fpb.AttrValue_I{I: -1}},
		}}
	}
	fwd := &funcpb.FunctionDef{
		Signature: &opb.OpDef{Name: fn, InputArg: ins, OutputArg: []*opb.OpDef_ArgDef{arg("y", f32)}, IsStateful: true},
		NodeDef:   []*npb.NodeDef{reduce("reduce", "x", "key")},
		Ret:       map[string]string{"y": "reduce:data:0"},
	}
	zeros := func(name, in string) *npb.NodeDef {
		return &npb.NodeDef{Name: name, Op: "ZerosLike", Input: []string{in}, Attr: map[string]*fpb.AttrValue{"T": {Value: &fpb.AttrValue_Type{Type: i32}}}}
	}
	grad := &funcpb.FunctionDef{
		Signature: &opb.OpDef{Name: fn + "_grad", InputArg: append(append([]*opb.OpDef_ArgDef{}, ins...), arg("dy", f32)),
			OutputArg: []*opb.OpDef_ArgDef{arg("dx", f32), arg("dsize", i32), arg("dgroup", i32), arg("dkey", i32), arg("dgrad_key", i32)}, IsStateful: true},
		NodeDef: []*npb.NodeDef{reduce("reduce", "dy", "grad_key"), zeros("z1", "size"), zeros("z2", "group"), zeros("z3", "key"), zeros("z4", "grad_key")},
		Ret:     map[string]string{"dx": "reduce:data:0", "dsize": "z1:y:0", "dgroup": "z2:y:0", "dkey": "z3:y:0", "dgrad_key": "z4:y:0"},
	}
	return &funcpb.FunctionDefLibrary{Function: []*funcpb.FunctionDef{fwd, grad},
		Gradient: []*funcpb.GradientDef{{FunctionName: fn, GradientFunc: fn + "_grad"}}}
}
