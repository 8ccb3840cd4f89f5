package train

// What a resume starts from when the run folder is not what it was: the
// newest intact checkpoint (a corrupt newer one is skipped, and said so),
// the run config record every checkpoint holds (the resume rules apply
// when config.yaml is gone), and the run folder a moved run's config is
// found in.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/model"
	"github.com/simsiam-go/simsiam/runfolder"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// latestCheckpoint returns the checkpoint the run starts from and its step
// (-1 when none). A resume takes the newest one tfgraph.VerifyCheckpoint
// passes, printing one line for each newer one it skips and why; the
// skipped files are left as they are until the run writes its next
// checkpoint (Checkpoints.Commit then drops them as superseded). With no
// intact checkpoint among several it refuses, naming each. A fresh run
// takes the newest one listed (there is none unless the folder was
// forced).
func (e *env) latestCheckpoint() (string, int64, error) {
	if !e.opts.Resume {
		steps, err := e.ckpts.List()
		if err != nil || len(steps) == 0 {
			return "", -1, err
		}
		s := steps[len(steps)-1]
		return e.ckpts.Prefix(s), s, nil
	}
	prefix, step, skipped, err := e.ckpts.NewestIntact()
	var none *tfgraph.NoIntactCheckpointError
	if errors.As(err, &none) {
		return "", -1, fmt.Errorf("cannot resume: %w\n(restore a checkpoint from a copy, or start afresh with --force, which moves these aside)", err)
	}
	if err != nil {
		return "", -1, fmt.Errorf("--resume: verifying the checkpoints in %s: %w", e.ckpts.Dir, err)
	}
	for _, s := range skipped {
		fmt.Fprintf(e.logw, "resume: skipping %s: %s; using %s\n", e.relPath(s.Prefix), s.Reason(), filepath.Base(prefix))
	}
	if prefix == "" {
		fmt.Fprintf(e.logw, "--resume: no checkpoint in %s, starting from step 0\n", e.ckpts.Dir)
		return "", -1, nil
	}
	return prefix, step, nil
}

// relPath is path relative to the run folder when it lies inside it.
func (e *env) relPath(path string) string {
	if rel, err := filepath.Rel(e.cfg.OutputDir, path); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return path
}

// checkResume applies the resume rules (see checkResume in history.go) to
// the run's config against the saved effective config prev (nil when
// config.yaml is gone) and the run config record of the checkpoint the
// run resumes from, printing every disagreement between the two.
func (e *env) checkResume(prev *configs.Config) ([]configs.Change, error) {
	var rec *runRecord
	if e.latest != "" {
		values, found, err := model.ReadRunRecord(e.latest)
		if err != nil {
			return nil, fmt.Errorf("cannot resume: %w", err)
		}
		if found {
			rec = &runRecord{Name: filepath.Base(e.latest), Values: values}
		}
	}
	changes, notes, err := checkResume(prev, rec, e.cfg, e.spe)
	for _, n := range notes {
		fmt.Fprintln(e.logw, n)
	}
	return changes, err
}

// configValues renders every config key's value as the config reference
// writes it (configs.Change's From and To), in the reference's order.
func configValues(cfg *configs.Config) (map[string]string, []string, error) {
	y, err := cfg.YAML()
	if err != nil {
		return nil, nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(y, &doc); err != nil {
		return nil, nil, fmt.Errorf("reading the rendered config: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, nil, errors.New("reading the rendered config: not one YAML document")
	}
	vals := map[string]string{}
	var order []string
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, v := prefix+n.Content[i].Value, n.Content[i+1]
			if v.Kind == yaml.MappingNode {
				walk(v, key+".")
				continue
			}
			vals[key] = inlineValue(v)
			order = append(order, key)
		}
	}
	walk(doc.Content[0], "")
	return vals, order, nil
}

// inlineValue is a rendered leaf as one line: a list as [a, b], the empty
// string as "".
func inlineValue(n *yaml.Node) string {
	if n.Kind == yaml.SequenceNode {
		items := make([]string, len(n.Content))
		for i, c := range n.Content {
			items[i] = inlineValue(c)
		}
		return "[" + strings.Join(items, ", ") + "]"
	}
	if n.Value == "" {
		return `""`
	}
	return n.Value
}

// runRecordJSON is the run config record of cfg: a JSON object of every
// key the resume rules keep or only let grow (all but the ones a resume
// may change), with its value as configValues renders it.
func runRecordJSON(cfg *configs.Config) (string, error) {
	vals, _, err := configValues(cfg)
	if err != nil {
		return "", err
	}
	rec := map[string]string{}
	for k, v := range vals {
		if ruleFor(k) != ruleAllow {
			rec[k] = v
		}
	}
	b, err := json.Marshal(rec)
	return string(b), err
}

// runRecordEntry is the saver entry writing cfg's run config record
// (model.RunConfigKey) into every checkpoint, a constant in scope s.
func runRecordEntry(s *tfgraph.Scope, cfg *configs.Config) tfgraph.Entry {
	rec, err := runRecordJSON(cfg)
	if err != nil {
		s.Fail(fmt.Errorf("the run config record: %w", err))
	}
	return model.RunRecordEntry(s, rec)
}

// resumeConfigName matches the configs a run folder holds: config.yaml and
// the config.resume-N.yaml of its resumes.
var resumeConfigName = regexp.MustCompile(`^config(\.resume-[0-9]+)?\.yaml$`)

// ResumeOutputDir returns the run folder a resume with the config file
// configFile (--config) continues, and a line to print when it is not
// cfg.OutputDir. When configFile is the config of a run folder (named
// config.yaml or config.resume-N.yaml, in a folder holding checkpoints/ or
// the config history) and cfg.OutputDir is another folder, the run was
// moved or copied: its folder is where the config is. That folder is used
// when cfg.OutputDir is what the file records; when it was set to a third
// folder (--set output_dir, SIMSIAM_OUTPUT_DIR) the resume is refused,
// naming both. In every other case cfg.OutputDir is returned unchanged.
func ResumeOutputDir(configFile string, cfg *configs.Config) (dir, note string, err error) {
	dir = cfg.OutputDir
	if configFile == "" || !resumeConfigName.MatchString(filepath.Base(configFile)) {
		return dir, "", nil
	}
	folder := filepath.Dir(configFile)
	if !isDir(runfolder.Dir(folder).Checkpoints()) && !fileExists(runfolder.Dir(folder).History()) {
		return dir, "", nil
	}
	if sameDir(folder, cfg.OutputDir) {
		return dir, "", nil
	}
	recorded, err := recordedOutputDir(configFile)
	if err != nil {
		return dir, "", err
	}
	if recorded != cfg.OutputDir {
		return dir, "", fmt.Errorf("--resume: --config %s is the config of the run in %s, but output_dir is %s: resume that run without overriding output_dir, or give the config of the run in %s",
			configFile, folder, cfg.OutputDir, cfg.OutputDir)
	}
	return folder, fmt.Sprintf("resume: using the run folder %s, where --config %s is (it records output_dir %s: the run was moved or copied)",
		folder, configFile, recorded), nil
}

// UseRunFolder sets cfg.OutputDir to the run folder a resume with the
// config file configFile continues (see ResumeOutputDir), printing the
// line that says so to log when it changes. A fresh run (resume false) is
// left as it is.
func UseRunFolder(configFile string, cfg *configs.Config, resume bool, log io.Writer) error {
	if !resume {
		return nil
	}
	dir, note, err := ResumeOutputDir(configFile, cfg)
	if err != nil {
		return err
	}
	if note != "" {
		fmt.Fprintln(log, note)
	}
	cfg.OutputDir = dir
	return nil
}

// recordedOutputDir is the output_dir the config file sets (the default
// when it sets none).
func recordedOutputDir(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--resume: %w", err)
	}
	var doc struct {
		OutputDir *string `yaml:"output_dir"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return "", fmt.Errorf("--resume: %s: %w", path, err)
	}
	if doc.OutputDir == nil {
		return configs.Default().OutputDir, nil
	}
	return *doc.OutputDir, nil
}

// sameDir reports whether a and b name the same folder: the same file when
// both exist, else the same absolute path.
func sameDir(a, b string) bool {
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	if errA == nil && errB == nil {
		return os.SameFile(sa, sb)
	}
	x, errA := filepath.Abs(a)
	y, errB := filepath.Abs(b)
	return errA == nil && errB == nil && x == y
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
