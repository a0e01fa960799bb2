package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/tursync/tursync/storage"
)

// parquetDir is a directory of Parquet files, one folder per table: a
// full copy, then one file of changes per run, each named by its sequence
// (000001-full.parquet, 000002-changes.parquet). A file is the commit of
// its table's run: it is written to a temporary name, synced and renamed,
// and it carries the table's cursor in its metadata, so the newest file
// says where the table is. _manifest.json lists the files after each run.
type parquetDir struct {
	id, dir string
	lock    *os.File
}

// The columns every row of a file carries besides the table's.
const (
	colOp    = "_op"    // snapshot, created, updated, deleted, restored, baseline, appended, upsert
	colAt    = "_at"    // when: the change event's time, else the run's
	colActor = "_actor" // who: the change event's actor, when the audit log says
	colSeq   = "_seq"   // the file's sequence: the latest row of a key has the highest
)

// cursorKey is the file metadata key of the table's cursor.
const cursorKey = "tursync.cursor"

// parquetBatch is the rows handed to the writer at a time.
const parquetBatch = 1000

// rowGroupRows is the rows of a Parquet row group.
const rowGroupRows = 10_000

// maxChangeFiles bounds a table's change files: past it, the next run
// copies the table whole and removes them.
const maxChangeFiles = 100

func openParquet(id, dir string) (*parquetDir, error) {
	if dir == "" {
		return nil, fmt.Errorf("export %s: to: parquet: needs a directory (parquet:/var/lib/tursync/lake)", id)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, targetErr(id, fmt.Errorf("create %s: %w", dir, err))
	}
	// One run at a time in the directory, whatever process runs it.
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, targetErr(id, err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, &TargetError{Export: id, Class: "busy", Hint: "another run of it holds the directory; this one wrote nothing", Err: fmt.Errorf("lock %s: %w", dir, err)}
	}
	return &parquetDir{id: id, dir: dir, lock: lock}, nil
}

func (p *parquetDir) close() { _ = p.lock.Close() }

type tableFile struct {
	name string
	seq  int
	full bool
}

// files lists a table's committed files, oldest first.
func (p *parquetDir) files(t *table) ([]tableFile, error) {
	entries, err := os.ReadDir(filepath.Join(p.dir, t.name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []tableFile
	for _, e := range entries {
		name := e.Name()
		base, ok := strings.CutSuffix(name, ".parquet")
		if !ok || strings.HasPrefix(name, ".") {
			continue
		}
		num, kind, _ := strings.Cut(base, "-")
		seq, err := strconv.Atoi(num)
		if err != nil {
			continue
		}
		out = append(out, tableFile{name: name, seq: seq, full: kind == "full"})
	}
	slices.SortFunc(out, func(a, b tableFile) int { return a.seq - b.seq })
	return out, nil
}

// state is what a table's newest file says: the table's cursor.
func (p *parquetDir) state(t *table, files []tableFile) (tableState, bool, error) {
	if len(files) == 0 {
		return tableState{}, false, nil
	}
	path := filepath.Join(p.dir, t.name, files[len(files)-1].name)
	f, err := os.Open(path)
	if err != nil {
		return tableState{}, false, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return tableState{}, false, err
	}
	pf, err := parquet.OpenFile(f, info.Size())
	if err != nil {
		return tableState{}, false, fmt.Errorf("%s: %w", path, err)
	}
	raw, ok := pf.Lookup(cursorKey)
	var st tableState
	if !ok || json.Unmarshal([]byte(raw), &st) != nil {
		return tableState{}, false, fmt.Errorf("%s has no cursor (%s): it was not written by tursync; move it away", path, cursorKey)
	}
	return st, true, nil
}

func (p *parquetDir) write(ctx context.Context, w *run, tables []*table, rep *Report) error {
	manifest := manifestOf{Export: p.id, Tables: map[string]manifestTable{}}
	for _, t := range tables {
		tr, mt, err := p.writeTable(ctx, w, t)
		if err != nil {
			return targetErr(p.id, fmt.Errorf("table %s: %w", t.name, err))
		}
		rep.Tables = append(rep.Tables, tr)
		manifest.Tables[t.name] = mt
	}
	if w.o.DryRun {
		return nil
	}
	manifest.WrittenAt = w.o.Now().UTC()
	b, err := json.MarshalIndent(manifest, "", "  ")
	if err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(p.dir, "_manifest.json"), func(f *os.File) error { _, err := f.Write(b); return err }); err != nil {
		return targetErr(p.id, err)
	}
	return nil
}

// manifestOf is _manifest.json: every table's files, rows and cursor.
type manifestOf struct {
	Export    string                   `json:"export"`
	WrittenAt time.Time                `json:"written_at"`
	Tables    map[string]manifestTable `json:"tables"`
}

type manifestTable struct {
	Glob   string               `json:"glob"`
	Files  []manifestFile       `json:"files"`
	Cursor storage.ExportCursor `json:"cursor"`
}

type manifestFile struct {
	Name string `json:"name"`
	Rows int64  `json:"rows"`
	Full bool   `json:"full"`
}

func (p *parquetDir) writeTable(ctx context.Context, w *run, t *table) (TableReport, manifestTable, error) {
	tr := TableReport{Table: t.name, Copy: "changes"}
	mt := manifestTable{Glob: filepath.Join(p.dir, t.name, "*.parquet")}
	files, err := p.files(t)
	if err != nil {
		return tr, mt, err
	}
	st, found, err := p.state(t, files)
	if err != nil {
		return tr, mt, err
	}
	tr.Why = w.fullWhy(t, st, found, "")
	if tr.Why == "" && len(files) >= maxChangeFiles {
		tr.Why = fmt.Sprintf("%d files: compacted into one", len(files))
	}
	seq := 1
	if len(files) > 0 {
		seq = files[len(files)-1].seq + 1
	}
	kind := "changes"
	if tr.Why != "" {
		tr.Copy, kind = "full", "full"
	}
	name := fmt.Sprintf("%06d-%s.parquet", seq, kind)
	meta, err := json.Marshal(tableState{ExportCursor: w.pos.ExportCursor, Accounts: w.accountsKey()})
	if err != nil {
		return tr, mt, err
	}
	out := &parquetSink{t: t, seq: int64(seq), at: w.o.Now().UTC(), op: opSnapshot}
	if tr.Why == "" {
		out.op = opEvent
	}
	err = out.start(filepath.Join(p.dir, t.name), string(meta), w.o.DryRun)
	if err == nil {
		if tr.Why != "" {
			err = w.read.Scan(ctx, t.name, t.columnNames(), w.filter(t, nil), out.add)
		} else {
			err = w.changes(ctx, t, st, out)
		}
	}
	if err == nil && stopAt != nil && stopAt("commit", 0) {
		err = errStopped
	}
	tr.Rows = out.rows
	if err != nil || w.o.DryRun || (out.rows == 0 && tr.Why == "") {
		// Nothing to commit: the cursor stays where the newest file says,
		// and the same (empty) range is read again next time.
		out.abort()
		mt.Files, mt.Cursor = listed(files), st.ExportCursor
		return tr, mt, err
	}
	if err := out.commit(filepath.Join(p.dir, t.name, name)); err != nil {
		return tr, mt, err
	}
	kept := append(files, tableFile{name: name, seq: seq, full: kind == "full"})
	if kind == "full" {
		// The new copy holds everything: the older files go.
		for _, f := range files {
			if err := os.Remove(filepath.Join(p.dir, t.name, f.name)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return tr, mt, err
			}
		}
		kept = kept[len(files):]
	}
	mt.Files, mt.Cursor = listed(kept), w.pos.ExportCursor
	mt.Files[len(mt.Files)-1].Rows = out.rows
	return tr, mt, nil
}

func listed(files []tableFile) []manifestFile {
	out := make([]manifestFile, len(files))
	for i, f := range files {
		out[i] = manifestFile{Name: f.name, Full: f.full, Rows: -1}
	}
	return out
}

// parquetSink writes one table's rows of a run to a temporary file.
type parquetSink struct {
	t      *table
	seq    int64
	at     time.Time
	op     string
	rows   int64
	tmp    *os.File
	writer *parquet.GenericWriter[any]
	buf    []parquet.Row
	// index is each column's position in the schema (leaves sort by name).
	index map[string]int
	opt   []bool
	dry   bool
}

func (s *parquetSink) schema() *parquet.Schema {
	g := parquet.Group{}
	for _, c := range s.t.columns {
		var n parquet.Node
		switch c.typ {
		case typeBigint:
			n = parquet.Int(64)
		case typeBoolean:
			n = parquet.Leaf(parquet.BooleanType)
		case typeDouble:
			n = parquet.Leaf(parquet.DoubleType)
		case typeJSONB:
			n = parquet.JSON()
		case typeTimestamp:
			n = parquet.Timestamp(parquet.Microsecond)
		default:
			n = parquet.String()
		}
		g[c.name] = parquet.Optional(n)
	}
	g[colOp] = parquet.String()
	g[colAt] = parquet.Timestamp(parquet.Microsecond)
	g[colActor] = parquet.Optional(parquet.String())
	g[colSeq] = parquet.Int(64)
	return parquet.NewSchema(s.t.name, g)
}

// start opens the temporary file in the table's folder, with the cursor
// the file commits in its metadata (a dry run only counts).
func (s *parquetSink) start(dir, cursor string, dry bool) error {
	s.dry = dry
	if dry {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".run-*.parquet.tmp")
	if err != nil {
		return err
	}
	s.tmp = tmp
	schema := s.schema()
	s.index = map[string]int{}
	for i, path := range schema.Columns() {
		s.index[path[0]] = i
		leaf, _ := schema.Lookup(path...)
		s.opt = append(s.opt, leaf.Node.Optional())
	}
	// Row groups of rowGroupRows keep the memory a file takes flat in rows.
	s.writer = parquet.NewGenericWriter[any](tmp, schema, parquet.Compression(&zstd.Codec{}), parquet.KeyValueMetadata(cursorKey, cursor),
		parquet.MaxRowsPerRowGroup(rowGroupRows))
	return nil
}

func (s *parquetSink) phase(op string) { s.op = op }

func (s *parquetSink) add(vals []any) error {
	if stopAt != nil && stopAt(s.t.name, s.rows) {
		return errStopped
	}
	s.rows++
	if s.dry {
		return nil
	}
	row := make(parquet.Row, len(s.index))
	set := func(name string, v any) {
		i := s.index[name]
		var pv parquet.Value
		switch x := v.(type) {
		case nil:
			row[i] = parquet.NullValue().Level(0, 0, i)
			return
		case bool:
			pv = parquet.BooleanValue(x)
		case int64:
			pv = parquet.Int64Value(x)
		case float64:
			pv = parquet.DoubleValue(x)
		case time.Time:
			pv = parquet.Int64Value(x.UnixMicro())
		case string:
			pv = parquet.ByteArrayValue([]byte(x))
		default:
			pv = parquet.ByteArrayValue([]byte(fmt.Sprint(x)))
		}
		def := 0
		if s.opt[i] {
			def = 1
		}
		row[i] = pv.Level(0, def, i)
	}
	for i, c := range s.t.columns {
		x, err := c.value(vals[i])
		if err != nil {
			return err
		}
		set(c.name, x)
	}
	op, at, actor := s.op, s.at, any(nil)
	if extra := vals[len(s.t.columns):]; len(extra) == 3 {
		// A row change events named: its last event's op, time and actor.
		op = asText(extra[0])
		if t, err := time.Parse(time.RFC3339Nano, asText(extra[1])); err == nil {
			at = t.UTC()
		}
		if a := asText(extra[2]); a != "" {
			actor = a
		}
	}
	set(colOp, op)
	set(colAt, at)
	set(colActor, actor)
	set(colSeq, s.seq)
	if s.writer == nil {
		return errors.New("parquet: the file was not opened")
	}
	s.buf = append(s.buf, row)
	if len(s.buf) >= parquetBatch {
		return s.flush()
	}
	return nil
}

func (s *parquetSink) flush() error {
	if len(s.buf) == 0 {
		return nil
	}
	_, err := s.writer.WriteRows(s.buf)
	s.buf = nil // the writer may hold on to the rows it was given
	return err
}

func (s *parquetSink) abort() {
	if s.tmp != nil {
		s.tmp.Close()
		os.Remove(s.tmp.Name())
		s.tmp = nil
	}
}

// commit finishes the file, syncs it, renames it to path and syncs the
// folder: from then on it is the table's newest file.
func (s *parquetSink) commit(path string) error {
	if err := s.flush(); err != nil {
		return err
	}
	if err := s.writer.Close(); err != nil {
		return err
	}
	if err := s.tmp.Sync(); err != nil {
		return err
	}
	if err := s.tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(s.tmp.Name(), path); err != nil {
		return err
	}
	s.tmp = nil
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// writeAtomic writes a file through a temporary one: synced, renamed, the
// directory synced.
func writeAtomic(path string, fill func(*os.File) error) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := fill(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
