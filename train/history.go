package train

// What a resumed run may change in its config, and the config history that
// records every change (config.yaml itself is never rewritten).

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/model"
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

// runRecord is the run config record of the checkpoint a resume starts
// from (see runRecordJSON): Values maps config keys to their values as the
// config reference writes them; Name is the checkpoint's base name.
type runRecord struct {
	Name   string
	Values map[string]string
}

// checkResume applies the resume rules to cfg against the run's saved
// effective config prev and the record rec of the checkpoint it resumes
// from; either may be nil (no config.yaml; a checkpoint written before the
// record existed). The checkpoint is the truth: a key it records is
// judged against its value, the others against prev's. It returns
// prev's changes (printed and recorded by the caller), one note per kept
// key on which prev and the record disagree, and an error listing every
// key cfg may not change. The model keys are left to model.CheckRecord,
// which compares them with the checkpoint's model config.
func checkResume(prev *configs.Config, rec *runRecord, cfg *configs.Config, spe int64) (changes []configs.Change, notes []string, err error) {
	cur, order, err := configValues(cfg)
	if err != nil {
		return nil, nil, err
	}
	recorded := func(key string) (string, bool) {
		if rec == nil || slices.Contains(model.RecordKeys, key) {
			return "", false
		}
		v, ok := rec.Values[key]
		return v, ok
	}
	var before map[string]string // prev's values
	if prev != nil {
		if before, _, err = configValues(prev); err != nil {
			return nil, nil, err
		}
	}
	var refused []string
	for _, k := range order {
		rv, ok := recorded(k)
		if !ok || ruleFor(k) != ruleRefuse {
			continue
		}
		pv, hasPrev := before[k]
		if hasPrev && pv != rv {
			notes = append(notes, fmt.Sprintf("--resume: %s: the run's config says %s but checkpoint %s was trained with %s; following the checkpoint", k, pv, rec.Name, rv))
		}
		switch {
		case rv == cur[k]:
		case hasPrev && pv == rv:
			refused = append(refused, fmt.Sprintf("%s: %s -> %s", k, rv, cur[k]))
		default:
			refused = append(refused, fmt.Sprintf("%s: %s (checkpoint %s) -> %s", k, rv, rec.Name, cur[k]))
		}
	}
	if prev != nil {
		changes = configs.Diff(prev, cfg)
		for _, c := range changes {
			if _, ok := recorded(c.Key); !ok && ruleFor(c.Key) == ruleRefuse {
				refused = append(refused, fmt.Sprintf("%s: %s -> %s", c.Key, c.From, c.To))
			}
		}
	}
	// The schedule may be extended, not cut: against the checkpoint's
	// record where it has one, else the saved config.
	var was *configs.Config
	if prev != nil {
		p := *prev
		was = &p
	}
	for _, k := range []string{"optim.epochs", "train.max_steps"} {
		rv, ok := recorded(k)
		n, perr := strconv.Atoi(rv)
		if !ok || perr != nil {
			continue
		}
		if was == nil {
			c := *cfg
			was = &c
		}
		if k == "optim.epochs" {
			was.Optim.Epochs = n
		} else {
			was.Train.MaxSteps = n
		}
	}
	if was != nil {
		if then, now := lastStep(was, spe), lastStep(cfg, spe); now < then {
			refused = append(refused, fmt.Sprintf("optim.epochs / train.max_steps: the last step would be %d instead of %d (a schedule may be extended, not cut)", now, then))
		}
	}
	if len(refused) > 0 {
		return changes, notes, fmt.Errorf("--resume: the config changes %d keys a resumed run must keep (they change the network, the data or the schedule already trained):\n  %s\n(resume with the run's own config, or start a new run in another output_dir)",
			len(refused), strings.Join(refused, "\n  "))
	}
	return changes, notes, nil
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
