package storage

import (
	"context"
	"strings"
)

// A small org's pass (a few hundred databases, members and audit events)
// costs the writer more in handling than in rows when its rows go through
// the stage tables in transactions of their own: staged, copied, then
// removed. So a batch starts small: its new rows are held in memory and
// inserted straight into their table by its commit, and whatever else it
// stages waits to run inside the commit's transaction, which removes those
// stage rows again before it ends. A batch that grows past inlineMaxBytes
// stops being small: what it held is staged after all and its commit is
// the large-org commit of txBatch.

// inlineMaxBytes is the most a small batch holds: enough for the usual
// org, and small enough that its one transaction stays short on a libSQL
// server and in memory.
var inlineMaxBytes = 1 << 20

// heldRows are the new rows of one table a small batch inserts straight
// into place.
type heldRows struct {
	insert     string // INSERT [OR IGNORE] INTO table (columns)
	width      int    // values per row that go in the table
	stageTable string
	stageCols  []string
	rows       [][]any // each row's values, then those only its stage row has
	// staged counts the rows of the section that went to the stage table
	// instead, the batch being no longer small.
	staged int
}

// putNew takes one new row bound for table: held while the batch is small,
// staged once it is not. vals are the row's stage values, stageCols their
// columns; the last extra of them (stage id, operation) exist only in the
// stage table. insertHeld, at the point of the commit where the staged rows
// are copied into place, writes the held ones.
func (p *txBatch) putNew(ctx context.Context, verb, table, stageTable string, stageCols []string, extra int, vals ...any) error {
	if p.dry {
		return nil
	}
	if p.held == nil {
		p.held = map[string]*heldRows{}
	}
	h := p.held[stageTable]
	if h == nil {
		width := len(stageCols) - extra
		h = &heldRows{insert: verb + ` INTO ` + table + ` (` + strings.Join(stageCols[:width], ", ") + `)`, width: width,
			stageTable: stageTable, stageCols: stageCols}
		p.held[stageTable] = h
	}
	if p.streaming {
		h.staged++
		return p.stage(ctx, stageTable, stageCols, vals...)
	}
	h.rows = append(h.rows, vals)
	p.inlineBytes += valuesBytes(vals)
	if p.inlineBytes > inlineMaxBytes {
		return p.startStreaming(ctx)
	}
	return nil
}

// insertHeld adds the statements that insert the section's held rows of a
// stage table's table, and reports whether some of its new rows were
// staged instead: the caller then copies them from the stage table too.
func (p *txBatch) insertHeld(stageTable string) (staged bool) {
	h := p.held[stageTable]
	if h == nil {
		return false // a dry run holds nothing
	}
	delete(p.held, stageTable)
	rows := make([][]any, len(h.rows))
	for i, r := range h.rows {
		rows[i] = r[:h.width]
	}
	p.stmts = append(p.stmts, p.insertStmts(h.insert, h.width, rows)...)
	return h.staged > 0
}

// insertStmts insert rows (each width values) with insert (INSERT [OR
// IGNORE] INTO t (columns)): packed on a libSQL server, as multi-row
// VALUES on a file.
func (p *txBatch) insertStmts(insert string, width int, rows [][]any) []stmt {
	if p.s.remote && len(rows) > 0 {
		flat := make([]any, 0, width*len(rows))
		for _, r := range rows {
			flat = append(flat, r...)
		}
		if st, ok := packedInsert(insert, width, flat); ok {
			return []stmt{st}
		}
	}
	return insertRowsAs(insert, rows)
}

// startStreaming ends the batch's being small: the staging inserts that
// waited for the commit are sent now, in order, and the held rows are
// staged like any other.
func (p *txBatch) startStreaming(ctx context.Context) error {
	p.streaming, p.staged = true, true
	if p.w == nil {
		p.w = p.startWriter(ctx)
	}
	waiting := p.inline
	p.inline = nil
	for _, st := range waiting {
		if err := p.send(ctx, st); err != nil {
			return err
		}
	}
	for _, h := range p.held {
		rows := h.rows
		h.rows = nil
		for _, r := range rows {
			h.staged++
			if err := p.stage(ctx, h.stageTable, h.stageCols, r...); err != nil {
				return err
			}
		}
	}
	return nil
}

// valuesBytes is about how many bytes vals take on the wire.
func valuesBytes(vals []any) int {
	n := 0
	for _, v := range vals {
		switch x := v.(type) {
		case string:
			n += len(x)
		case []byte:
			n += len(x)
		default:
			n += 8
		}
	}
	return n
}
