package train

// What a resumed run may change in its config, and the config history that
// records every change (config.yaml itself is never rewritten).

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/runfolder"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// keyRule is what a resume may do with a config key.
type keyRule int

const (
	// ruleRefuse: the key changes the network, the data or the order the
	// data is seen in; a checkpoint trained with another value is not
	// this run's.
	ruleRefuse keyRule = iota
	// ruleSchedule: optim.epochs and train.max_steps may change as long
	// as the run's last step does not come earlier (the schedule may be
	// extended, not cut).
	ruleSchedule
	// ruleAllow: logging, checkpointing, the kNN monitor, evaluation
	// data, the runtime and the optimiser's hyper-parameters.
	ruleAllow
)

// allowedPrefixes and allowedKeys are the keys a resume may change
// (ruleAllow); scheduleKeys may grow (ruleSchedule); every other key is
// refused.
var (
	allowedPrefixes = []string{"eval.", "linear.", "runtime."}
	allowedKeys     = map[string]bool{
		"output_dir": true, "data.prefetch": true,
		"train.log_every": true, "train.checkpoint_every": true, "train.keep_checkpoints": true,
		"train.knn_every": true, "train.knn_k": true, "train.knn_temperature": true,
		"train.skip_nonfinite_steps": true,
		"optim.base_lr":              true, "optim.momentum": true, "optim.weight_decay": true,
		"optim.fix_pred_lr": true, "optim.warmup_epochs": true,
	}
	scheduleKeys = map[string]bool{"optim.epochs": true, "train.max_steps": true}
)

// ruleFor is the rule for key.
func ruleFor(key string) keyRule {
	if scheduleKeys[key] {
		return ruleSchedule
	}
	if allowedKeys[key] {
		return ruleAllow
	}
	for _, p := range allowedPrefixes {
		if strings.HasPrefix(key, p) {
			return ruleAllow
		}
	}
	return ruleRefuse
}

// lastStep is the run's last step under cfg with spe steps per epoch.
func lastStep(cfg *configs.Config, spe int64) int64 {
	total := spe * int64(cfg.Optim.Epochs)
	if cfg.Train.MaxSteps > 0 && int64(cfg.Train.MaxSteps) < total {
		total = int64(cfg.Train.MaxSteps)
	}
	return total
}

// checkResumeConfig compares cfg with the run's saved effective config
// prev: the changes it may make, or an error listing every key it may not
// change. spe is the steps per epoch (the same for both: batch size and
// data cannot change).
func checkResumeConfig(prev, cfg *configs.Config, spe int64) ([]configs.Change, error) {
	changes := configs.Diff(prev, cfg)
	var refused []string
	schedule := false
	for _, c := range changes {
		switch ruleFor(c.Key) {
		case ruleRefuse:
			refused = append(refused, fmt.Sprintf("%s: %s -> %s", c.Key, c.From, c.To))
		case ruleSchedule:
			schedule = true
		}
	}
	if schedule {
		if was, now := lastStep(prev, spe), lastStep(cfg, spe); now < was {
			refused = append(refused, fmt.Sprintf("optim.epochs / train.max_steps: the last step would be %d instead of %d (a schedule may be extended, not cut)", now, was))
		}
	}
	if len(refused) > 0 {
		return changes, fmt.Errorf("--resume: the config changes %d keys a resumed run must keep (they change the network, the data or the schedule already trained):\n  %s\n(resume with the run's own config, or start a new run in another output_dir)",
			len(refused), strings.Join(refused, "\n  "))
	}
	return changes, nil
}

// readPrevConfig loads the run's newest effective config; nil when the run
// has none (it never got that far).
func readPrevConfig(outputDir string) (*configs.Config, string, error) {
	path := runfolder.Dir(outputDir).EffectiveConfig()
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, path, nil
	}
	prev, err := configs.Load(configs.LoadOptions{File: path})
	if err != nil {
		return nil, path, fmt.Errorf("--resume: reading the run's config: %w", err)
	}
	return prev, path, nil
}

// historyRecord is one line of the config history (runfolder.HistoryName).
type historyRecord struct {
	Time    string           `json:"time"`
	Step    int64            `json:"step"`
	Config  string           `json:"config"`
	Changes []configs.Change `json:"changes"`
}

// recordChanges writes the new effective config as the next
// config.resume-N.yaml and appends the changes to the config history.
func recordChanges(cfg *configs.Config, step int64, changes []configs.Change, now time.Time) (string, error) {
	dir := runfolder.Dir(cfg.OutputDir)
	path := dir.NextResumeConfig()
	yml, err := cfg.YAML()
	if err != nil {
		return "", err
	}
	if err := tfgraph.WriteFileAtomic(path, yml); err != nil {
		return "", err
	}
	f, err := os.OpenFile(dir.History(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := json.Marshal(historyRecord{Time: now.UTC().Format(time.RFC3339), Step: step, Config: filepath.Base(path), Changes: changes})
	if err != nil {
		return "", err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		return "", fmt.Errorf("%s: %w", runfolder.HistoryName, err)
	}
	return path, f.Sync()
}
