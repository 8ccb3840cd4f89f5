package train

import "fmt"

// Stopped is the error Run returns when its context was done before the
// schedule was complete: the run stopped after a whole step, checkpointed
// what it had trained and flushed its logs, so training can continue with
// Options.Resume. Err is the context's error.
type Stopped struct {
	// Step is the global step the run stopped at.
	Step int64
	// Checkpoint is the newest checkpoint prefix, the one a resume starts
	// from ("" when nothing was ever saved).
	Checkpoint string
	Err        error
}

func (s *Stopped) Error() string {
	if s.Checkpoint == "" {
		return fmt.Sprintf("stopped at step %d before any checkpoint: %v", s.Step, s.Err)
	}
	return fmt.Sprintf("stopped at step %d, checkpoint %s: %v", s.Step, s.Checkpoint, s.Err)
}

func (s *Stopped) Unwrap() error { return s.Err }
