// Package eval measures how good a SimSiam representation is: it extracts
// frozen backbone features (Encoder), runs the weighted kNN monitor of
// InstDisc / SimSiam's CIFAR experiments (KNN, RunKNN) and trains and
// scores a linear classifier on the frozen backbone (LinearEval). Everything
// heavy runs in TensorFlow graphs; only the encoder's variables are read from
// training checkpoints, so projector, predictor and optimiser state may be
// present or not.
package eval

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/data"
	"github.com/simsiam-go/simsiam/internal/inference"
	"github.com/simsiam-go/simsiam/internal/progress"
	"github.com/simsiam-go/simsiam/internal/session"
	"github.com/simsiam-go/simsiam/model"
	"github.com/simsiam-go/simsiam/runfolder"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// EncoderScope is the variable scope of the backbone in every SimSiam
// checkpoint.
const EncoderScope = model.EncoderScope

// Encoder is the frozen backbone in inference mode (BatchNorm with its
// moving statistics): uint8 NHWC images → augment.Eval (resize, normalise)
// → pooled features [N, Dim].
type Encoder struct {
	Graph    *tfgraph.Graph
	Backbone model.Backbone
	// Dim is the feature dimension (Backbone.FeatureDim()).
	Dim int
	// Channels is the channel count the Images placeholder takes.
	Channels int
	// Images is the uint8 [N, H, W, Channels] input placeholder.
	Images tfgraph.Output
	// Out is the float32 [N, Dim] feature output.
	Out tfgraph.Output
	// Vars are the encoder/ variables (weights and BatchNorm statistics).
	Vars []*tfgraph.Variable
	// Log, when set, receives a progress bar for feature extraction.
	Log io.Writer

	sess    *tfgraph.Session
	ownSess bool
	restore *encoderRestore
}

// NewEncoder builds the backbone cfg describes in a graph of its own, starts
// a session and loads the encoder/ variables from the checkpoint prefix
// (see ResolveCheckpoint for what checkpoint may name). An empty checkpoint
// keeps the random initialisation drawn from cfg.Seed, the random-init
// baseline. The graph runs on the device WithDevices picks. Close the
// Encoder when done.
func NewEncoder(cfg *configs.Config, checkpoint string) (*Encoder, error) {
	cfg, err := session.WithDevices(cfg)
	if err != nil {
		return nil, err
	}
	g := tfgraph.NewGraph()
	g.SetDevice(session.Device(cfg))
	e, err := AddEncoder(g, cfg)
	if err != nil {
		return nil, err
	}
	init := g.InitOp("init")
	if err := g.Err(); err != nil {
		return nil, err
	}
	sess, err := tfgraph.NewSession(g, session.Options(cfg.Runtime))
	if err != nil {
		return nil, err
	}
	e.sess, e.ownSess = sess, true
	if _, err := sess.Run(nil, nil, init); err != nil {
		e.Close()
		return nil, fmt.Errorf("initialising the encoder: %w", err)
	}
	if checkpoint != "" {
		if err := e.Restore(checkpoint); err != nil {
			e.Close()
			return nil, err
		}
	}
	return e, nil
}

// AddEncoder creates the backbone's variables under encoder/ in g (initial
// values from cfg.Seed, as model.New draws them), the inference path and the
// ops that restore the encoder from a checkpoint. Run g's initialiser, then
// Attach a session (and Restore) before Features.
func AddEncoder(g *tfgraph.Graph, cfg *configs.Config) (*Encoder, error) {
	bb, err := model.NewBackbone(g.Root().Child(EncoderScope),
		model.BackboneConfig{Model: cfg.Model, InChannels: int64(cfg.Data.Channels), Seed: cfg.Seed})
	if err != nil {
		return nil, err
	}
	e := NewEncoderOn(g, bb, cfg.Data)
	e.restore = addEncoderRestore(g, e.Vars, bb.VarPrefix())
	e.restore.cfg = cfg
	if err := g.Err(); err != nil {
		return nil, fmt.Errorf("building the encoder: %w", err)
	}
	return e, nil
}

// NewEncoderOn adds an inference path over an existing backbone bb of g (for
// example the training graph's st.Net.Backbone, for a kNN monitor that reads
// the live weights). It adds no variables and no restore ops; Attach the
// session that runs g before Features.
func NewEncoderOn(g *tfgraph.Graph, bb model.Backbone, d configs.Data) *Encoder {
	s := g.Root().Child("features")
	e := &Encoder{Graph: g, Backbone: bb, Dim: int(bb.FeatureDim()), Channels: d.Channels}
	e.Images = s.Placeholder("images", tfgraph.Uint8, []int64{-1, -1, -1, int64(d.Channels)})
	e.Out = s.Identity("output", inference.Features(s, s, bb, e.Images, d))
	for _, v := range g.Variables() {
		if strings.HasPrefix(v.Key, bb.VarPrefix()) {
			e.Vars = append(e.Vars, v)
		}
	}
	return e
}

// Attach sets the session Features runs in (one running e.Graph).
func (e *Encoder) Attach(sess *tfgraph.Session) { e.sess = sess }

// Session is the attached session, or nil.
func (e *Encoder) Session() *tfgraph.Session { return e.sess }

// Close releases the session when NewEncoder started it.
func (e *Encoder) Close() error {
	if e.ownSess && e.sess != nil {
		err := e.sess.Close()
		e.sess = nil
		return err
	}
	return nil
}

// Features maps every image of imgs to its feature row: N*Dim float32
// values, image i at [i*Dim, (i+1)*Dim). Images go batch at a time through
// the graph; grey images are repeated to RGB when the encoder takes 3
// channels.
func (e *Encoder) Features(imgs *data.Images, batch int) ([]float32, error) {
	return e.FeaturesContext(context.Background(), imgs, batch)
}

// FeaturesContext is Features that stops between batches once ctx is done,
// returning ctx's error.
func (e *Encoder) FeaturesContext(ctx context.Context, imgs *data.Images, batch int) ([]float32, error) {
	if e.sess == nil {
		return nil, errors.New("encoder: no session (use NewEncoder, or Attach one)")
	}
	if imgs == nil || imgs.N == 0 {
		return nil, errors.New("encoder: no images to extract features from")
	}
	if batch <= 0 {
		return nil, fmt.Errorf("encoder: batch %d, want > 0", batch)
	}
	imgs, err := imgs.WithChannels(e.Channels)
	if err != nil {
		return nil, fmt.Errorf("encoder: %w", err)
	}
	out := make([]float32, imgs.N*e.Dim)
	sz := imgs.ImageSize()
	bar := progress.New(e.Log, "features", int64(imgs.N), int64(imgs.N/4+1))
	defer bar.Finish()
	for i := 0; i < imgs.N; i += batch {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("encoder: stopped at image %d of %d: %w", i, imgs.N, err)
		}
		n := min(batch, imgs.N-i)
		t, err := imageTensor(imgs.Pix[i*sz:(i+n)*sz], n, imgs.H, imgs.W, imgs.C)
		if err != nil {
			return nil, err
		}
		res, err := e.sess.Run(map[tfgraph.Output]*tfgraph.Tensor{e.Images: t}, []tfgraph.Output{e.Out})
		if err != nil {
			return nil, fmt.Errorf("encoder: images %d..%d of %s: %w", i, i+n-1, imgs.Source, err)
		}
		if err := rows(res[0], out[i*e.Dim:(i+n)*e.Dim]); err != nil {
			return nil, fmt.Errorf("encoder: %w", err)
		}
		bar.Update(int64(i + n))
	}
	return out, nil
}

// Restore loads the encoder/ variables from a checkpoint (see
// ResolveCheckpoint). Other keys in the checkpoint (projector, predictor,
// optimiser slots, classifier) are ignored. Before anything is assigned it
// checks that every encoder variable is present with the shape this config
// builds, so a checkpoint of another model is a clear error rather than a
// silently reshaped variable.
func (e *Encoder) Restore(checkpoint string) error {
	if e.restore == nil {
		return errors.New("encoder: built without restore ops (use AddEncoder)")
	}
	if e.sess == nil {
		return errors.New("encoder: no session")
	}
	prefix, err := ResolveCheckpoint(checkpoint)
	if err != nil {
		return err
	}
	e.restore.log = e.Log
	return e.restore.run(e.sess, prefix)
}

// encoderRestore holds a Saver over the encoder's variables and what is
// needed to check a checkpoint against them before restoring.
type encoderRestore struct {
	vars  []*tfgraph.Variable
	saver *tfgraph.Saver
	// prefix starts every key of the backbone (Backbone.VarPrefix): the
	// checkpoint's keys under it must be exactly vars.
	prefix string
	// cfg, when set, is compared with the checkpoint's model config record
	// on model.EncoderKeys.
	cfg *configs.Config
	// log receives the note about a checkpoint without a record.
	log io.Writer
}

func addEncoderRestore(g *tfgraph.Graph, vars []*tfgraph.Variable, prefix string) *encoderRestore {
	return &encoderRestore{vars: vars, saver: tfgraph.NewSaver(g, "restore_encoder", vars), prefix: prefix}
}

// run checks the checkpoint (model.CheckedRestore: its record, then its
// index's names and shapes, no tensor data) against the encoder, then
// restores it. The checkpoint's keys under the backbone's prefix must be
// exactly the encoder's variables with their shapes: a missing key or
// another shape is another architecture, width or channel count, an extra
// key a deeper backbone (resnet34 holds every resnet18 variable, with the
// same shapes).
func (r *encoderRestore) run(sess *tfgraph.Session, prefix string) error {
	c := model.CheckedRestore{Config: r.cfg, Keys: model.EncoderKeys, Vars: r.vars, Log: r.log,
		Hint: "the encoder this config builds cannot load it (check model.arch, model.stem, model.width and data.channels)"}
	return c.Restore(sess, r.saver, prefix)
}

// ResolveCheckpoint turns what a user passes as a checkpoint into a prefix:
// a prefix (PREFIX.index exists) is returned as is; a directory yields its
// newest ckpt-STEP checkpoint, looking in DIR/checkpoints too, so a run's
// output_dir works. Either is verified first (tfgraph.VerifyCheckpoint): a
// corrupt checkpoint is named with the reason and, for a directory, the
// newest intact one to give instead.
func ResolveCheckpoint(path string) (string, error) {
	if _, err := os.Stat(path + ".index"); err == nil {
		if err := tfgraph.VerifyCheckpoint(path); err != nil {
			return "", err
		}
		return path, nil
	}
	st, err := os.Stat(path)
	if err != nil || !st.IsDir() {
		return "", fmt.Errorf("checkpoint %s: no %s.index (give a checkpoint prefix such as runs/x/%s/ckpt-1000, or a directory)", path, filepath.Base(path), runfolder.CheckpointsName)
	}
	for _, dir := range []string{path, runfolder.Dir(path).Checkpoints()} {
		if latest, err := (tfgraph.Checkpoints{Dir: dir}).NewestVerified(); err != nil || latest != "" {
			if err != nil {
				return "", fmt.Errorf("checkpoint %s: %w", path, err)
			}
			return latest, nil
		}
	}
	return "", fmt.Errorf("checkpoint %s: a directory without ckpt-STEP.index files (nor in %s/%s)", path, path, runfolder.CheckpointsName)
}
