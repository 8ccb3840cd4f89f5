package model

import (
	"fmt"
	"sort"
	"strings"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// Method is a self-supervised method behind the training step: the
// networks it builds, its loss and metrics over the two views, its
// parameter groups and its state updates besides the optimizer's. The
// training step (train.BuildStep) knows nothing else of the method, so a
// new method is its own file, its test, its preset and one line in
// methodRegistry.
type Method interface {
	// Name is the method's method.name ("simsiam").
	Name() string
	// Net is the network the method trains: the encoder (Net().Backbone,
	// what kNN, linear evaluation and export use in every method), the
	// projector, and the predictor (nil for a method without one).
	Net() *SimSiam
	// Tower builds the loss and the metrics for the views in scope s on
	// the scope's device, in training mode mode (BatchNorm's new moving
	// statistics go to the mode's updates).
	Tower(s *tfgraph.Scope, in Views, mode tfgraph.Mode) TowerOutputs
	// ParamGroup is the group of the trainable variable with checkpoint
	// key key, which decides its learning rate.
	ParamGroup(key string) ParamGroup
	// StateUpdates builds the method's own state updates (BYOL's moving
	// average target) in s, a scope inside the step's update gate: they
	// run only when the step's updates are applied, after the gradients.
	// Nil means none.
	StateUpdates(s *tfgraph.Scope, u UpdateContext) []*tfgraph.Operation
}

// InitMethod is implemented by a method with state to set up after the
// variables' initial values (BYOL's target starts as a copy of the online
// network): InitOps builds it in s, whose control dependencies order it
// after the initial assignments. The step's Init runs them.
type InitMethod interface {
	InitOps(s *tfgraph.Scope) []*tfgraph.Operation
}

// Views are the inputs of a tower: the two augmented views of the batch and
// with LocalCrops > 0 the local views concatenated along the batch (zero
// otherwise).
type Views struct {
	X1, X2, Local Output
	LocalCrops    int
	// Global, with several workers (nil otherwise), is the group a method
	// whose loss needs statistics of the global batch sum-all-reduces them
	// over (tfgraph.AllReduceSumDiff, differentiable), one instance key
	// (NextKey) per all-reduce, in the same order on every worker.
	Global *tfgraph.SyncBN
	// Rank is this worker's index among Global.Group.Size workers (with
	// Global).
	Rank int
}

// UpdateContext is what a method's state updates may depend on.
type UpdateContext struct {
	// Step is the int64 scalar count of finished steps, read before this
	// step's increment.
	Step Output
	// TotalSteps is the length of training (the schedules span it).
	TotalSteps int64
}

// ParamGroup is a group of trainable variables sharing a learning-rate
// rule.
type ParamGroup int

const (
	// ScheduledLR follows the step's learning-rate schedule.
	ScheduledLR ParamGroup = iota
	// FixedLR stays at the base learning rate (SimSiam's predictor with
	// optim.fix_pred_lr).
	FixedLR
)

// Metric is one named float32 scalar a method reports every step
// ("z_std").
type Metric struct {
	Name  string
	Value Output
}

// ZStdMetric is the name of the collapse monitor (CollapseStd of z1),
// which every method reports.
const ZStdMetric = "z_std"

// Metric is the metric called name of t's, and whether there is one.
func (t TowerOutputs) Metric(name string) (Output, bool) {
	for _, m := range t.Metrics {
		if m.Name == name {
			return m.Value, true
		}
	}
	return Output{}, false
}

// methodBuilder builds a method's variables in g for cfg (inCh image
// channels, every initial value derived from cfg.Seed).
type methodBuilder func(g *tfgraph.Graph, cfg *configs.Config, inCh int64) (Method, error)

// methodRegistry is every method, one line each, by method.name.
func methodRegistry() map[string]methodBuilder {
	return map[string]methodBuilder{
		"simsiam":      newSimSiamMethod,
		"simclr":       newSimCLRMethod,
		"barlow_twins": newBarlowTwinsMethod,
		"byol":         newBYOLMethod,
	}
}

// MethodNames lists the registered methods, sorted.
func MethodNames() []string {
	var names []string
	for n := range methodRegistry() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// NewMethod builds the method called name for cfg in g: its variables
// (encoder/..., projector/..., and the method's own).
func NewMethod(name string, g *tfgraph.Graph, cfg *configs.Config, inCh int64) (Method, error) {
	build, ok := methodRegistry()[name]
	if !ok {
		names := MethodNames()
		return nil, fmt.Errorf("method.name %q: no such method (the methods: %s)", name, strings.Join(names, ", "))
	}
	m, err := build(g, cfg, inCh)
	if err != nil {
		return nil, fmt.Errorf("method %s: %w", name, err)
	}
	return m, nil
}
