package export

import (
	"encoding/json"
	"os"
	"path/filepath"

	"github.com/simsiam-go/simsiam/configs"
)

// RunExporter is the SavedModel side of a training run (train.Options.
// Export takes it): the final export of the encoder and projector, and
// which checkpoint a SavedModel holds.
type RunExporter struct{}

// Export writes the SavedModel of checkpoint to dir (Export with the
// projection signature), replacing one there.
func (RunExporter) Export(cfg *configs.Config, checkpoint, dir string) error {
	return Export(cfg, checkpoint, dir, true)
}

// ExportedFrom is the checkpoint prefix the SavedModel in dir was exported
// from (its assets.extra metadata), or "" when that is unreadable.
func (RunExporter) ExportedFrom(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "assets.extra", MetadataFile))
	if err != nil {
		return ""
	}
	var m Metadata
	if json.Unmarshal(b, &m) != nil {
		return ""
	}
	return m.Checkpoint
}
