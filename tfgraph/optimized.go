package tfgraph

// #include <stdlib.h>
// #include <string.h>
// #include "tensorflow/c/c_api.h"
import "C"

import (
	"bytes"
	"fmt"
	"unsafe"

	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/proto"
)

// OptimizedGraph shows g as TensorFlow runs it under options o: after
// grappler's rewrites (mixed precision, remapper fusions such as
// _FusedConv2D, constant folding, ...) and placement. It starts a session of
// its own on a copy of g, runs init (when not nil), then runs targets once
// with feeds, asking for the partition graphs (RunOptions
// output_partition_graphs), and returns the nodes of all of them. Feeds
// are matched by name (op name and output index), so Outputs of g work.
// The run changes the copy's variables only.
func OptimizedGraph(g *Graph, o SessionOptions, feeds map[Output]*Tensor, init *Operation, targets ...*Operation) ([]Node, error) {
	def, err := g.GraphDef()
	if err != nil {
		return nil, err
	}
	if err := o.checkPrecision(); err != nil {
		return nil, err
	}
	cfg, err := o.ConfigProto()
	if err != nil {
		return nil, fmt.Errorf("session config: %w", err)
	}
	runOpts, err := proto.Marshal(&pb.RunOptions{OutputPartitionGraphs: true})
	if err != nil {
		return nil, err
	}
	status := C.TF_NewStatus()
	defer C.TF_DeleteStatus(status)
	fail := func(what string) error {
		return fmt.Errorf("optimized graph: %s: %s", what, C.GoString(C.TF_Message(status)))
	}
	cg := C.TF_NewGraph()
	defer C.TF_DeleteGraph(cg)
	defBuf := newCBuffer(def)
	defer C.TF_DeleteBuffer(defBuf)
	iopts := C.TF_NewImportGraphDefOptions()
	defer C.TF_DeleteImportGraphDefOptions(iopts)
	if C.TF_GraphImportGraphDef(cg, defBuf, iopts, status); C.TF_GetCode(status) != C.TF_OK {
		return nil, fail("importing the graph")
	}
	sopts := C.TF_NewSessionOptions()
	defer C.TF_DeleteSessionOptions(sopts)
	if len(cfg) > 0 {
		cc := C.CBytes(cfg)
		C.TF_SetConfig(sopts, cc, C.size_t(len(cfg)), status)
		C.free(cc)
		if C.TF_GetCode(status) != C.TF_OK {
			return nil, fail("session config")
		}
	}
	if o.Target != "" {
		ct := C.CString(o.Target)
		C.TF_SetTarget(sopts, ct)
		C.free(unsafe.Pointer(ct))
	}
	sess := C.TF_NewSession(cg, sopts, status)
	if C.TF_GetCode(status) != C.TF_OK {
		return nil, fail("starting the session")
	}
	defer func() {
		C.TF_CloseSession(sess, status)
		C.TF_DeleteSession(sess, status)
	}()
	opByName := func(name string) (*C.TF_Operation, error) {
		cn := C.CString(name)
		defer C.free(unsafe.Pointer(cn))
		op := C.TF_GraphOperationByName(cg, cn)
		if op == nil {
			return nil, fmt.Errorf("optimized graph: no operation %q in the copy", name)
		}
		return op, nil
	}
	run := func(ins []C.TF_Output, vals []*C.TF_Tensor, tgts []*C.TF_Operation, opts, meta *C.TF_Buffer) {
		var pIn *C.TF_Output
		var pVal **C.TF_Tensor
		var pTgt **C.TF_Operation
		// The arrays live in C memory: TF_Output holds C pointers only.
		if len(ins) > 0 {
			pIn = (*C.TF_Output)(C.malloc(C.size_t(len(ins)) * C.size_t(unsafe.Sizeof(C.TF_Output{}))))
			defer C.free(unsafe.Pointer(pIn))
			copy(unsafe.Slice(pIn, len(ins)), ins)
			pVal = (**C.TF_Tensor)(C.malloc(C.size_t(len(vals)) * C.size_t(unsafe.Sizeof(uintptr(0)))))
			defer C.free(unsafe.Pointer(pVal))
			copy(unsafe.Slice(pVal, len(vals)), vals)
		}
		if len(tgts) > 0 {
			pTgt = (**C.TF_Operation)(C.malloc(C.size_t(len(tgts)) * C.size_t(unsafe.Sizeof(uintptr(0)))))
			defer C.free(unsafe.Pointer(pTgt))
			copy(unsafe.Slice(pTgt, len(tgts)), tgts)
		}
		C.TF_SessionRun(sess, opts, pIn, pVal, C.int(len(ins)), nil, nil, 0, pTgt, C.int(len(tgts)), meta, status)
	}
	if init != nil {
		op, err := opByName(init.Name())
		if err != nil {
			return nil, err
		}
		if run(nil, nil, []*C.TF_Operation{op}, nil, nil); C.TF_GetCode(status) != C.TF_OK {
			return nil, fail("running " + init.Name())
		}
	}
	var ins []C.TF_Output
	var vals []*C.TF_Tensor
	defer func() {
		for _, v := range vals {
			C.TF_DeleteTensor(v)
		}
	}()
	for out, t := range feeds {
		op, err := opByName(out.Op.Name())
		if err != nil {
			return nil, err
		}
		ct, err := cTensor(t)
		if err != nil {
			return nil, fmt.Errorf("optimized graph: feeding %s: %w", out.Op.Name(), err)
		}
		ins = append(ins, C.TF_Output{oper: op, index: C.int(out.Index)})
		vals = append(vals, ct)
	}
	var tgts []*C.TF_Operation
	for _, t := range targets {
		op, err := opByName(t.Name())
		if err != nil {
			return nil, err
		}
		tgts = append(tgts, op)
	}
	optBuf := newCBuffer(runOpts)
	defer C.TF_DeleteBuffer(optBuf)
	meta := C.TF_NewBuffer()
	defer C.TF_DeleteBuffer(meta)
	if run(ins, vals, tgts, optBuf, meta); C.TF_GetCode(status) != C.TF_OK {
		return nil, fail("running the targets")
	}
	var md pb.RunMetadata
	if err := proto.Unmarshal(C.GoBytes(meta.data, C.int(meta.length)), &md); err != nil {
		return nil, fmt.Errorf("optimized graph: reading RunMetadata: %w", err)
	}
	if len(md.PartitionGraphs) == 0 {
		return nil, fmt.Errorf("optimized graph: TensorFlow returned no partition graphs")
	}
	var nodes []Node
	for _, pg := range md.PartitionGraphs {
		nodes = append(nodes, nodesOf(pg)...)
	}
	return nodes, nil
}

// newCBuffer copies b into a new TF_Buffer (TF_DeleteBuffer frees both).
func newCBuffer(b []byte) *C.TF_Buffer {
	if len(b) == 0 {
		return C.TF_NewBuffer()
	}
	return C.TF_NewBufferFromString(unsafe.Pointer(&b[0]), C.size_t(len(b)))
}

// cTensor copies a numeric or bool tensor into a new TF_Tensor.
func cTensor(t *Tensor) (*C.TF_Tensor, error) {
	if t.DataType() == String {
		return nil, fmt.Errorf("string tensors are not supported")
	}
	var buf bytes.Buffer
	if _, err := t.WriteContentsTo(&buf); err != nil {
		return nil, err
	}
	shape := t.Shape()
	var dims *C.int64_t
	if len(shape) > 0 {
		dims = (*C.int64_t)(unsafe.Pointer(&shape[0]))
	}
	ct := C.TF_AllocateTensor(C.TF_DataType(t.DataType()), dims, C.int(len(shape)), C.size_t(buf.Len()))
	if ct == nil {
		return nil, fmt.Errorf("allocating a %v tensor of %d bytes", shape, buf.Len())
	}
	if buf.Len() > 0 {
		C.memcpy(C.TF_TensorData(ct), unsafe.Pointer(&buf.Bytes()[0]), C.size_t(buf.Len()))
	}
	return ct, nil
}

// CountOps counts the nodes whose op is one of ops.
func CountOps(nodes []Node, ops ...string) int {
	n := 0
	for _, nd := range nodes {
		for _, o := range ops {
			if nd.Op == o {
				n++
				break
			}
		}
	}
	return n
}

// CountOfType counts the nodes with a type attribute holding dt (the enum
// name, "DT_BFLOAT16").
func CountOfType(nodes []Node, dt string) int {
	n := 0
	for _, nd := range nodes {
		if nd.hasType(dt) {
			n++
		}
	}
	return n
}

// hasType reports whether a type attribute of the node holds dt.
func (n Node) hasType(dt string) bool {
	for _, ts := range n.Types {
		for _, t := range ts {
			if t == dt {
				return true
			}
		}
	}
	return false
}
