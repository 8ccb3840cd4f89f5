package train

import (
	"context"

	"github.com/simsiam-go/simsiam/data"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// solo is a process training alone: it writes the run's files, starts
// where its checkpoint left off and stops between two steps when its
// context is done.
type solo struct{}

func (solo) chief() bool                            { return true }
func (solo) replicas() *Replicas                    { return nil }
func (solo) sessionOptions(*tfgraph.SessionOptions) {}

func (solo) sync(_ *Session, _ *Pipeline, from int64, skips int) (int64, int, error) {
	return from, skips, nil
}

func (solo) dataContext(ctx context.Context) context.Context { return ctx }
func (solo) shard(*data.PrefetchOptions)                     {}

func (solo) step(_ context.Context, sess *Session, _ *Pipeline, feeds map[Output]*tfgraph.Tensor, _ int64) (Stats, error) {
	return sess.TrainStep(feeds)
}

// stop: a signal stops the run after the step it arrived in.
func (solo) stop(ctx context.Context, _ Stats) bool { return ctx.Err() != nil }

func (solo) barrier(*Session, *Pipeline, int64, bool) error { return nil }
func (solo) abandoned() bool                                { return false }
