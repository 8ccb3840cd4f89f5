package tfgraph

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sort"
	"time"

	tf "github.com/wamuir/graft/tensorflow"
	evpb "github.com/wamuir/graft/tensorflow/core/util/event_go_proto"
	"google.golang.org/protobuf/proto"
)

// Summary writer defaults: events are buffered in TensorFlow and written
// after SummaryMaxQueue pending events or SummaryFlushMillis milliseconds,
// whichever comes first (Flush and Close write them at once).
const (
	SummaryMaxQueue    = 10
	SummaryFlushMillis = 10_000
	// SummaryFileSuffix ends the event file's name, as TF2's
	// tf.summary.create_file_writer names its files.
	SummaryFileSuffix = ".v2"
)

// SummaryWriter writes scalar summaries to a TensorBoard event file
// (logdir/events.out.tfevents.TIME.HOST.PID.v2) with TensorFlow's own
// summary ops: a SummaryWriter resource set up by CreateSummaryFileWriter,
// one WriteScalarSummary per tag, FlushSummaryWriter and CloseSummaryWriter.
// The tags are fixed when the writer is built, so the graph does not grow
// while a session runs; Scalars writes any subset of them in one
// Session.Run.
//
// WriteScalarSummary stores each value as a TF1-style simple_value; TensorBoard
// and tf.compat.v1.train.summary_iterator read it as any other scalar.
type SummaryWriter struct {
	Logdir string
	// Writer is the summary writer resource.
	Writer Output
	// Step is the int64 step placeholder shared by every tag.
	Step Output
	// Values holds the float32 placeholder of each tag.
	Values map[string]Output
	// Writes holds the WriteScalarSummary op of each tag.
	Writes map[string]*Operation
	// InitOp creates the event file; FlushOp writes pending events; CloseOp
	// flushes and closes the file.
	InitOp, FlushOp, CloseOp *Operation
	// Event is the string placeholder of a serialized tensorflow.Event that
	// ImportOp (TF's ImportEvent) writes as it is.
	Event    Output
	ImportOp *Operation
	tags     []string
}

// NewSummaryWriter builds a writer of the given scalar tags into logdir,
// under the scope "summaries" (made unique). Tags must be distinct and
// non-empty; TensorBoard groups "a/b" tags under "a".
func NewSummaryWriter(g *Graph, logdir string, tags ...string) *SummaryWriter {
	sw := &SummaryWriter{Logdir: logdir, Values: map[string]Output{}, Writes: map[string]*Operation{}}
	if g.err != nil {
		return sw
	}
	if logdir == "" {
		g.fail(fmt.Errorf("summary writer: empty logdir"))
		return sw
	}
	s := g.Root().Child(g.uniqueName("summaries")).OnHost()
	sw.Writer = s.out("SummaryWriter", "writer", map[string]any{"shared_name": s.ns, "container": ""})
	sw.InitOp = s.Op("CreateSummaryFileWriter", "create", []tf.Input{
		sw.Writer, s.Const("logdir", logdir), s.Const("max_queue", int32(SummaryMaxQueue)),
		s.Const("flush_millis", int32(SummaryFlushMillis)), s.Const("filename_suffix", SummaryFileSuffix),
	}, nil)
	sw.FlushOp = s.Op("FlushSummaryWriter", "flush", []tf.Input{sw.Writer}, nil)
	sw.CloseOp = s.Op("CloseSummaryWriter", "close", []tf.Input{sw.Writer}, nil)
	sw.Event = s.Placeholder("event", String, []int64{})
	sw.ImportOp = s.Op("ImportEvent", "import_event", []tf.Input{sw.Writer, sw.Event}, nil)
	sw.Step = s.Placeholder("step", Int64, []int64{})
	for i, tag := range tags {
		if tag == "" {
			g.fail(fmt.Errorf("summary writer %s: tag %d is empty", logdir, i))
			return sw
		}
		if _, dup := sw.Values[tag]; dup {
			g.fail(fmt.Errorf("summary writer %s: tag %q given twice", logdir, tag))
			return sw
		}
		ts := s.Child(fmt.Sprintf("scalar%d", i))
		v := ts.Placeholder("value", Float, []int64{})
		sw.Values[tag] = v
		sw.Writes[tag] = ts.Op("WriteScalarSummary", "write", []tf.Input{sw.Writer, sw.Step, ts.Const("tag", tag), v},
			map[string]any{"T": Float})
		sw.tags = append(sw.tags, tag)
	}
	return sw
}

// Tags lists the writer's tags in the order given to NewSummaryWriter.
func (sw *SummaryWriter) Tags() []string { return append([]string(nil), sw.tags...) }

// Init creates logdir (if needed) and the event file. Run it once per
// session before Scalars.
func (sw *SummaryWriter) Init(sess *Session) error {
	if sw.InitOp == nil {
		return fmt.Errorf("summary writer %s: not built", sw.Logdir)
	}
	if _, err := sess.Run(nil, nil, sw.InitOp); err != nil {
		return fmt.Errorf("summary writer %s: %w", sw.Logdir, err)
	}
	return nil
}

// Scalars writes the values at step in one Session.Run. Every key must be
// one of the writer's tags; tags left out are not written at this step.
func (sw *SummaryWriter) Scalars(sess *Session, step int64, values map[string]float32) error {
	if len(values) == 0 {
		return nil
	}
	st, err := tf.NewTensor(step)
	if err != nil {
		return err
	}
	feeds := map[Output]*Tensor{sw.Step: st}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	targets := make([]*Operation, 0, len(keys))
	for _, k := range keys {
		ph, ok := sw.Values[k]
		if !ok {
			return fmt.Errorf("summary writer %s: unknown tag %q (tags: %v)", sw.Logdir, k, sw.tags)
		}
		t, err := tf.NewTensor(values[k])
		if err != nil {
			return err
		}
		feeds[ph] = t
		targets = append(targets, sw.Writes[k])
	}
	if _, err := sess.Run(feeds, nil, targets...); err != nil {
		return fmt.Errorf("summary writer %s: step %d: %w", sw.Logdir, step, err)
	}
	return nil
}

// Flush writes pending events to the file.
func (sw *SummaryWriter) Flush(sess *Session) error {
	if _, err := sess.Run(nil, nil, sw.FlushOp); err != nil {
		return fmt.Errorf("summary writer %s: flush: %w", sw.Logdir, err)
	}
	return nil
}

// Close flushes and closes the event file. A later Init opens a new file.
func (sw *SummaryWriter) Close(sess *Session) error {
	if _, err := sess.Run(nil, nil, sw.CloseOp); err != nil {
		return fmt.Errorf("summary writer %s: close: %w", sw.Logdir, err)
	}
	return nil
}

// SessionStart writes TensorBoard's restart marker, a SessionLog START
// event, at step: TensorBoard then drops the events of earlier files with
// step >= step, the ones a run resumed from an older checkpoint writes
// again.
func (sw *SummaryWriter) SessionStart(sess *Session, step int64) error {
	ev, err := proto.Marshal(&evpb.Event{
		WallTime: float64(time.Now().UnixNano()) / 1e9,
		Step:     step,
		What:     &evpb.Event_SessionLog{SessionLog: &evpb.SessionLog{Status: evpb.SessionLog_START}},
	})
	if err != nil {
		return err
	}
	t, err := tf.NewTensor(string(ev))
	if err != nil {
		return err
	}
	if _, err := sess.Run(map[Output]*Tensor{sw.Event: t}, nil, sw.ImportOp); err != nil {
		return fmt.Errorf("summary writer %s: session start at step %d: %w", sw.Logdir, step, err)
	}
	return nil
}

// ReadEventFile reads the events of a TensorBoard event file (TFRecord
// framing, CRCs checked). A record cut short by a killed writer ends the
// file without an error.
func ReadEventFile(path string) ([]*evpb.Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rd := bufio.NewReader(f)
	crc := func(b []byte) uint32 {
		c := crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli))
		return (c>>15 | c<<17) + 0xa282ead8
	}
	var events []*evpb.Event
	for {
		var head [12]byte
		if _, err := io.ReadFull(rd, head[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return events, nil
			}
			return events, err
		}
		if crc(head[:8]) != binary.LittleEndian.Uint32(head[8:]) {
			return events, fmt.Errorf("%s: record %d: bad length CRC", path, len(events))
		}
		body := make([]byte, binary.LittleEndian.Uint64(head[:8])+4)
		if _, err := io.ReadFull(rd, body); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return events, nil
			}
			return events, err
		}
		data := body[:len(body)-4]
		if crc(data) != binary.LittleEndian.Uint32(body[len(body)-4:]) {
			return events, fmt.Errorf("%s: record %d: bad data CRC", path, len(events))
		}
		ev := &evpb.Event{}
		if err := proto.Unmarshal(data, ev); err != nil {
			return events, fmt.Errorf("%s: record %d: %w", path, len(events), err)
		}
		events = append(events, ev)
	}
}
