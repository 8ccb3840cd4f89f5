package model

// The model config a checkpoint records, so that a checkpoint says which
// network wrote it and a config building another one is refused by name
// (a resnet34 checkpoint holds every resnet18 variable with its shape).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// ConfigKey is the checkpoint key of the model config record: a string
// scalar holding a JSON object from config keys to values, e.g.
// {"data.channels":1,"model.arch":"resnet18",...}. Python reads it with
// tf.train.load_checkpoint(prefix).get_tensor("simsiam/model_config").
const ConfigKey = "simsiam/model_config"

// RecordKeys are the config keys the record holds: everything that decides
// the network's variables or what its features mean.
var RecordKeys = []string{
	"model.arch", "model.stem", "model.width", "model.proj_dim", "model.proj_hidden",
	"model.proj_layers", "model.pred_hidden", "model.bn_eps", "data.channels", "data.image_size",
	methodRecordKey,
}

// methodRecordKey is the record key of the method that trained the
// checkpoint. A record without it is SimSiam's (methodRecordDefault):
// records written before there were methods, and SimSiam's own, which
// leave it out so that SimSiam's checkpoints and graphs stay as they were.
const (
	methodRecordKey     = "method.name"
	methodRecordDefault = "simsiam"
)

// EncoderKeys are the record keys that concern the backbone alone: the ones
// kNN and linear evaluation compare (they never use the projector or the
// predictor).
var EncoderKeys = []string{"model.arch", "model.stem", "model.width", "model.bn_eps", "data.channels", "data.image_size"}

// Record is cfg's values of RecordKeys.
func Record(cfg *configs.Config) map[string]any {
	m := cfg.Model
	r := map[string]any{
		"model.arch": m.Arch, "model.stem": m.Stem, "model.width": m.Width,
		"model.proj_dim": m.ProjDim, "model.proj_hidden": m.ProjHidden, "model.proj_layers": m.ProjLayers,
		"model.pred_hidden": m.PredHidden, "model.bn_eps": m.BNEps,
		"data.channels": cfg.Data.Channels, "data.image_size": cfg.Data.ImageSize,
	}
	if name := cfg.Method.Name; name != "" && name != methodRecordDefault {
		r[methodRecordKey] = name
	}
	return r
}

// RecordJSON is Record as the JSON object stored under ConfigKey (keys
// sorted).
func RecordJSON(cfg *configs.Config) string {
	b, err := json.Marshal(Record(cfg))
	if err != nil { // only plain strings and numbers: cannot happen
		return "{}"
	}
	return string(b)
}

// RecordEntry is the saver entry that writes cfg's record into every
// checkpoint (a constant in scope s; it is never restored).
func RecordEntry(s *tfgraph.Scope, cfg *configs.Config) tfgraph.Entry {
	return tfgraph.Entry{Key: ConfigKey, Value: s.Const("model_config", RecordJSON(cfg))}
}

// ConfigMismatchError says that a checkpoint was written by a network other
// than the one a config builds. Diffs holds one line per key that differs,
// sorted: "model.arch: checkpoint resnet34, config resnet18".
type ConfigMismatchError struct {
	Prefix string
	Diffs  []string
}

func (e *ConfigMismatchError) Error() string {
	return fmt.Sprintf("checkpoint %s was written by another model than this config builds (%d keys differ):\n  %s\n(use the config of the run that wrote it, e.g. --config RUN/config.yaml, or set these keys to the checkpoint's values)",
		e.Prefix, len(e.Diffs), strings.Join(e.Diffs, "\n  "))
}

// CheckRecord compares the record in the checkpoint at prefix with cfg on
// keys (RecordKeys or EncoderKeys). A difference is a *ConfigMismatchError
// listing every key. A checkpoint without a record (written before records
// existed, or by another program) is accepted with a note saying that only
// names and shapes can be checked; note is "" otherwise. Keys the record
// lacks are skipped.
func CheckRecord(prefix string, cfg *configs.Config, keys []string) (note string, err error) {
	raw, found, err := tfgraph.ReadCheckpointString(prefix, ConfigKey)
	if err != nil {
		return "", err
	}
	if !found {
		return fmt.Sprintf("note: checkpoint %s records no model config (written by an older version?); checking it by variable names and shapes only", prefix), nil
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var saved map[string]any
	if err := dec.Decode(&saved); err != nil {
		return "", fmt.Errorf("checkpoint %s: its %s is not a JSON object: %w", prefix, ConfigKey, err)
	}
	want := Record(cfg)
	var diffs []string
	for _, k := range keys {
		s, ok := saved[k]
		if !ok && k == methodRecordKey {
			s, ok = methodRecordDefault, true
		}
		if !ok {
			continue
		}
		w, ok := want[k]
		if !ok && k == methodRecordKey {
			w = methodRecordDefault
		}
		if sv, wv := jsonText(s), jsonText(w); sv != wv {
			diffs = append(diffs, fmt.Sprintf("%s: checkpoint %s, config %s", k, sv, wv))
		}
	}
	if len(diffs) == 0 {
		return "", nil
	}
	sort.Strings(diffs)
	return "", &ConfigMismatchError{Prefix: prefix, Diffs: diffs}
}

// jsonText renders a value as compact JSON without quotes around strings,
// so that 4 (int), 4 (json.Number) and "4" read alike to a person and
// numbers compare by their JSON text (1e-05 both ways).
func jsonText(v any) string {
	if n, ok := v.(json.Number); ok {
		if f, err := n.Float64(); err == nil {
			v = f
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(bytes.Trim(b, `"`))
}

// RunConfigKey is the checkpoint key of the run config record, the
// second record every training checkpoint holds: a string scalar with a
// JSON object from every config key a resume must keep or may only extend
// (the resume rules of package train) to its value as the config
// reference writes it, e.g. {"seed":"0","optim.batch_size":"512",...}.
// With it a resume can be checked against the checkpoint itself when the
// run's config.yaml is gone. Python reads it like ConfigKey.
const RunConfigKey = "simsiam/run_config"

// RunRecordEntry is the saver entry that writes the JSON object record
// under RunConfigKey (a constant in scope s; it is never restored).
func RunRecordEntry(s *tfgraph.Scope, record string) tfgraph.Entry {
	return tfgraph.Entry{Key: RunConfigKey, Value: s.Const("run_config", record)}
}

// ReadRunRecord returns the run config record of the checkpoint at prefix.
// found is false (and err nil) for a checkpoint without one (written
// before the record existed, or by another program).
func ReadRunRecord(prefix string) (record map[string]string, found bool, err error) {
	raw, found, err := tfgraph.ReadCheckpointString(prefix, RunConfigKey)
	if err != nil || !found {
		return nil, found, err
	}
	if err := json.Unmarshal([]byte(raw), &record); err != nil {
		return nil, true, fmt.Errorf("checkpoint %s: its %s is not a JSON object of strings: %w", prefix, RunConfigKey, err)
	}
	return record, true, nil
}
