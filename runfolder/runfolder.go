// Package runfolder names the files and folders of a run's output_dir: what
// a pretraining run, linear-eval and an export write there, the lock they
// take, the folders a --force run moves the old files into, the temporary
// files a killed write leaves, and the records of metrics.jsonl. These
// names are what users, TensorBoard and Python see; they never change, so
// existing run folders keep working.
//
// The package uses only the standard library: every other package (train,
// eval, export, the commands, the results reader) takes its paths from it.
package runfolder

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The names of a run folder's entries, relative to it.
const (
	// CheckpointsName holds the training checkpoints (ckpt-STEP.* and the
	// state file "checkpoint").
	CheckpointsName = "checkpoints"
	// MetricsName is the JSON-lines log of the run (see StepRecord).
	MetricsName = "metrics.jsonl"
	// SavedModelName is the exported encoder.
	SavedModelName = "saved_model"
	// LinearName holds linear-eval's checkpoints and its SavedModel.
	LinearName = "linear"
	// LogsName holds the TensorBoard event files.
	LogsName = "logs"
	// ConfigName is the effective config a run started with.
	ConfigName = "config.yaml"
	// HistoryName records, one JSON line per resume that changed the
	// config, the step it resumed from, every changed key with both
	// values and the file holding the new effective config.
	HistoryName = "config-history.jsonl"
	// ResumeConfigGlob matches every config.resume-N.yaml a resume saved.
	ResumeConfigGlob = "config.resume-*.yaml"
	// LockName is the file a writer of the folder holds an exclusive
	// flock on.
	LockName = ".lock"
	// ReplacedPrefix starts the folders (.replaced-TIME) a --force run
	// moves another run's files into.
	ReplacedPrefix = ".replaced-"
	// PreflightPrefix starts the file a run creates and removes at once to
	// check that the folder is writable.
	PreflightPrefix = ".tmp-preflight-"
)

// replacedTime is the layout of the TIME of .replaced-TIME (UTC).
const replacedTime = "20060102T150405Z"

// Dir is a run folder (a run's output_dir).
type Dir string

func (d Dir) join(elem ...string) string {
	return filepath.Join(append([]string{string(d)}, elem...)...)
}

// Checkpoints is the folder of the training checkpoints.
func (d Dir) Checkpoints() string { return d.join(CheckpointsName) }

// Metrics is the run's metrics.jsonl.
func (d Dir) Metrics() string { return d.join(MetricsName) }

// SavedModel is the encoder's SavedModel, exported at the end of the run.
func (d Dir) SavedModel() string { return d.join(SavedModelName) }

// Linear is linear-eval's folder: its checkpoints (ckpt-STEP.*) and
// LinearSavedModel.
func (d Dir) Linear() string { return d.join(LinearName) }

// LinearSavedModel is the SavedModel of linear-eval's classifier.
func (d Dir) LinearSavedModel() string { return d.join(LinearName, SavedModelName) }

// Logs is the TensorBoard folder.
func (d Dir) Logs() string { return d.join(LogsName) }

// Config is the config.yaml a run started with (never rewritten).
func (d Dir) Config() string { return d.join(ConfigName) }

// History is the config history file (see HistoryName).
func (d Dir) History() string { return d.join(HistoryName) }

// ResumeConfig is the effective config the n-th config-changing resume
// saved (n from 1): config.resume-N.yaml.
func (d Dir) ResumeConfig(n int) string {
	return d.join("config.resume-" + strconv.Itoa(n) + ".yaml")
}

// LockFile is the lock file (see Lock).
func (d Dir) LockFile() string { return d.join(LockName) }

// Replaced is the folder a --force run started at now moves the old files
// into (before the counter MoveAside adds when it is taken).
func (d Dir) Replaced(now time.Time) string {
	return d.join(ReplacedPrefix + now.UTC().Format(replacedTime))
}

// resumeConfigs is the number of config.resume-N.yaml files, counting from
// 1 until one is missing.
func (d Dir) resumeConfigs() int {
	n := 0
	for {
		if _, err := os.Stat(d.ResumeConfig(n + 1)); err != nil {
			return n
		}
		n++
	}
}

// EffectiveConfig is the file holding the folder's newest effective
// config: config.yaml, or the config.resume-N.yaml of the last resume that
// changed something. The resume command points at it.
func (d Dir) EffectiveConfig() string {
	if n := d.resumeConfigs(); n > 0 {
		return d.ResumeConfig(n)
	}
	return d.Config()
}

// NextResumeConfig is the config.resume-N.yaml the next config-changing
// resume writes.
func (d Dir) NextResumeConfig() string { return d.ResumeConfig(d.resumeConfigs() + 1) }

// Artifacts are the entries a run (or linear-eval on its checkpoints)
// writes, in the order they are reported; a fresh run refuses a folder
// holding any of them. ResumeConfigGlob stands for every config a resume
// saved.
func Artifacts() []string {
	return []string{CheckpointsName, ConfigName, HistoryName, ResumeConfigGlob, MetricsName, SavedModelName, LogsName, LinearName}
}

// SavedModels are the SavedModels a run folder holds, relative to it: the
// encoder's and linear-eval's classifier.
func SavedModels() []string {
	return []string{SavedModelName, filepath.Join(LinearName, SavedModelName)}
}

// LeftoverPatterns match, relative to the folder, the temporary files and
// folders a process killed while writing leaves: a checkpoint's and the
// checkpoint state file's, config.yaml's, a config.resume-N.yaml's and
// metrics.jsonl's atomic writes, the preflight file and linear-eval's
// checkpoints. The SavedModels' leftovers (SavedModels) are beside each
// SavedModel; tfgraph knows them.
func LeftoverPatterns() []string {
	return []string{
		filepath.Join(CheckpointsName, ".tmp-*"),
		".tmp-config*.yaml-*", ".tmp-" + MetricsName + "-*", PreflightPrefix + "*",
		filepath.Join(LinearName, ".tmp-*"),
	}
}

// FindArtifacts lists the artifacts present in d, in the order of
// Artifacts, folders with a trailing slash.
func (d Dir) FindArtifacts() ([]string, error) {
	var found []string
	for _, name := range Artifacts() {
		if strings.Contains(name, "*") {
			paths, err := filepath.Glob(d.join(name))
			if err != nil {
				return nil, err
			}
			for _, p := range paths {
				found = append(found, filepath.Base(p))
			}
			continue
		}
		st, err := os.Stat(d.join(name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if st.IsDir() {
			name += "/"
		}
		found = append(found, name)
	}
	return found, nil
}

// MoveAside moves the artifacts found in d (as FindArtifacts lists them)
// into a new folder d/.replaced-TIME (UTC; a counter is added when taken)
// and returns its path. Nothing is deleted.
func (d Dir) MoveAside(found []string, now time.Time) (string, error) {
	base := d.Replaced(now)
	aside := base
	for i := 2; ; i++ {
		err := os.Mkdir(aside, 0o755)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrExist) {
			return "", err
		}
		aside = fmt.Sprintf("%s-%d", base, i)
	}
	for _, name := range found {
		name = strings.TrimSuffix(name, "/")
		if err := os.Rename(d.join(name), filepath.Join(aside, name)); err != nil {
			return aside, fmt.Errorf("moving %s aside: %w", name, err)
		}
	}
	return aside, nil
}

// IsRun reports whether d holds a run's files or its lock: the folders
// whose writers take Lock.
func (d Dir) IsRun() bool {
	if _, err := os.Stat(d.LockFile()); err == nil {
		return true
	}
	found, err := d.FindArtifacts()
	return err == nil && len(found) > 0
}
