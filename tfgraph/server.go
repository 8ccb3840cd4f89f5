package tfgraph

// #cgo LDFLAGS: -ltensorflow
// #include <stdlib.h>
// #include "tensorflow/c/c_api.h"
import "C"

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"

	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/proto"
)

// Cluster maps a job name to the host:port of each of its tasks, as
// TensorFlow's ClusterSpec (and the "cluster" field of TF_CONFIG) does.
type Cluster map[string][]string

// TFConfig is TensorFlow's TF_CONFIG environment convention:
// {"cluster": {"worker": ["h0:2222", "h1:2222"]}, "task": {"type": "worker", "index": 0}}.
type TFConfig struct {
	Cluster Cluster `json:"cluster"`
	Task    struct {
		Type  string `json:"type"`
		Index int    `json:"index"`
	} `json:"task"`
	// Environment and RPCLayer are accepted as TensorFlow writes them and
	// otherwise ignored (the protocol is always grpc).
	Environment string `json:"environment,omitempty"`
	RPCLayer    string `json:"rpc_layer,omitempty"`
}

// Members lists the tasks of a between-graph data-parallel job in rank
// order: the chief (if the cluster has one) first, then the workers. Other
// jobs (ps, evaluator) are not members.
func (c *TFConfig) Members() []TaskAddr {
	var out []TaskAddr
	for _, job := range []string{"chief", "worker"} {
		for i, addr := range c.Cluster[job] {
			out = append(out, TaskAddr{Job: job, Index: i, Addr: addr})
		}
	}
	return out
}

// Rank is this task's position in Members, or -1 when it is not a member.
func (c *TFConfig) Rank() int {
	for r, m := range c.Members() {
		if m.Job == c.Task.Type && m.Index == c.Task.Index {
			return r
		}
	}
	return -1
}

// TaskAddr is one task of a cluster.
type TaskAddr struct {
	Job   string
	Index int
	Addr  string // host:port
}

// Device is the task's device prefix, "/job:worker/replica:0/task:1".
func (t TaskAddr) Device() string { return fmt.Sprintf("/job:%s/replica:0/task:%d", t.Job, t.Index) }

func (t TaskAddr) String() string { return fmt.Sprintf("%s %d (%s)", t.Job, t.Index, t.Addr) }

// ParseTFConfig reads a TF_CONFIG value; an empty string gives nil, nil.
func ParseTFConfig(s string) (*TFConfig, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var c TFConfig
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("TF_CONFIG: %w", err)
	}
	if c.Task.Type == "" {
		return nil, fmt.Errorf("TF_CONFIG: no task.type (want e.g. \"task\": {\"type\": \"worker\", \"index\": 0})")
	}
	if len(c.Cluster[c.Task.Type]) <= c.Task.Index || c.Task.Index < 0 {
		return nil, fmt.Errorf("TF_CONFIG: task %s:%d is not in the cluster %v", c.Task.Type, c.Task.Index, c.Cluster)
	}
	if err := c.Cluster.Validate(); err != nil {
		return nil, fmt.Errorf("TF_CONFIG: %w", err)
	}
	return &c, nil
}

// Validate checks every task's address: TensorFlow's server aborts the
// process on an address it cannot parse, so a bad one must be refused
// before NewServer.
func (c Cluster) Validate() error {
	jobs := make([]string, 0, len(c))
	for j := range c {
		jobs = append(jobs, j)
	}
	sort.Strings(jobs)
	for _, j := range jobs {
		for i, addr := range c[j] {
			if err := ValidateAddr(addr); err != nil {
				return fmt.Errorf("cluster %s %d: %w", j, i, err)
			}
		}
	}
	return nil
}

// ValidateAddr checks that addr is host:port with a host and a port in
// 1..65535 (a task needs a fixed port; IPv6 hosts in brackets).
func ValidateAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q is not host:port: %w", addr, err)
	}
	if host == "" || strings.ContainsAny(host, " /\t") {
		return fmt.Errorf("address %q has no valid host", addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("address %q: port %q is not a number in 1..65535", addr, port)
	}
	return nil
}

// TFConfigFromEnv parses the TF_CONFIG environment variable (nil if unset).
func TFConfigFromEnv() (*TFConfig, error) { return ParseTFConfig(os.Getenv("TF_CONFIG")) }

// Server is an in-process TensorFlow gRPC server (TF's distributed runtime):
// sessions anywhere can target it, and graphs can place ops on its devices
// ("/job:worker/task:1/device:CPU:0"). A server runs until the process
// exits: TensorFlow does not implement a clean shutdown of gRPC servers.
type Server struct {
	c *C.TF_Server
}

// ServerOptions are what a server needs besides its cluster and task.
type ServerOptions struct {
	// CollectiveGroupLeader is the task that resolves collective groups
	// ("/job:worker/replica:0/task:0"); empty for servers that run no
	// collective ops. The server builds its collective executor from it at
	// start, so it cannot be set later in a session's config.
	CollectiveGroupLeader string
	// CollectiveNCCL lets collectives on GPUs use NCCL.
	CollectiveNCCL bool
}

// NewServer creates and starts the server for task index of job in cluster.
func NewServer(cluster Cluster, job string, index int, o ServerOptions) (*Server, error) {
	if err := cluster.Validate(); err != nil {
		return nil, err
	}
	if index < 0 || index >= len(cluster[job]) {
		return nil, fmt.Errorf("TF server %s:%d: no such task in the cluster", job, index)
	}
	addr := cluster[job][index]
	// TensorFlow's "Could not start gRPC server" names no port; a listener
	// opened and closed first says which one is taken.
	if err := portFree(addr); err != nil {
		return nil, fmt.Errorf("TF server %s:%d cannot listen on %s: %w", job, index, addr, err)
	}
	cd := &pb.ClusterDef{}
	jobs := make([]string, 0, len(cluster))
	for j := range cluster {
		jobs = append(jobs, j)
	}
	sort.Strings(jobs)
	for _, j := range jobs {
		tasks := map[int32]string{}
		for i, addr := range cluster[j] {
			tasks[int32(i)] = addr
		}
		cd.Job = append(cd.Job, &pb.JobDef{Name: j, Tasks: tasks})
	}
	def := &pb.ServerDef{Cluster: cd, JobName: job, TaskIndex: int32(index), Protocol: "grpc"}
	if o.CollectiveGroupLeader != "" {
		def.DefaultSessionConfig = &pb.ConfigProto{Experimental: &pb.ConfigProto_Experimental{
			CollectiveGroupLeader: o.CollectiveGroupLeader,
			CollectiveNccl:        o.CollectiveNCCL,
			// Every worker runs its collectives in the same order.
			CollectiveDeterministicSequentialExecution: o.CollectiveNCCL,
		}}
	}
	b, err := proto.Marshal(def)
	if err != nil {
		return nil, err
	}
	st := C.TF_NewStatus()
	defer C.TF_DeleteStatus(st)
	cb := C.CBytes(b)
	defer C.free(cb)
	srv := C.TF_NewServer(cb, C.size_t(len(b)), st)
	if C.TF_GetCode(st) != C.TF_OK {
		return nil, fmt.Errorf("TF server %s:%d (%s): %s", job, index, addr, C.GoString(C.TF_Message(st)))
	}
	// No finalizer: TensorFlow cannot shut a gRPC server down cleanly
	// (TF_DeleteServer aborts the process), so servers live until exit.
	s := &Server{c: srv}
	C.TF_ServerStart(srv, st)
	if C.TF_GetCode(st) != C.TF_OK {
		return nil, fmt.Errorf("starting TF server %s:%d (%s): %s", job, index, addr, C.GoString(C.TF_Message(st)))
	}
	return s, nil
}

// portFree checks that this process can listen on addr's port (on every
// interface, as TensorFlow's gRPC server does).
func portFree(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", net.JoinHostPort("", port))
	if err != nil {
		return err
	}
	return l.Close()
}

// Target is the session target of the server ("grpc://localhost:2222").
func (s *Server) Target() string { return C.GoString(C.TF_ServerTarget(s.c)) }

// Join blocks until the server stops.
func (s *Server) Join() error {
	st := C.TF_NewStatus()
	defer C.TF_DeleteStatus(st)
	C.TF_ServerJoin(s.c, st)
	if C.TF_GetCode(st) != C.TF_OK {
		return fmt.Errorf("TF server: %s", C.GoString(C.TF_Message(st)))
	}
	return nil
}
