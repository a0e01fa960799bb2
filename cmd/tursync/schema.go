package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/tursync/tursync/schema"
)

// runSchema prints the data dictionary: every table and view with what
// it holds, or one table's columns with their types, sources and values.
// It reads the binary's schema.Dictionary, which the mirror's
// mirror_tables and mirror_columns also publish: no config, no mirror.
func (m *Main) runSchema(_ context.Context, args []string) error {
	fs := m.flags("schema")
	output := outputFlag(fs)
	internal := fs.Bool("internal", false, "list the internal tables (staging, leases, migrations) too")
	// TABLE may come before the flags: parse, take it, parse the rest.
	parse := func(args []string) error {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return errHelp
			}
			return &UsageError{Msg: err.Error()}
		}
		return nil
	}
	if err := parse(args); err != nil {
		return err
	}
	table := fs.Arg(0)
	if table != "" {
		if err := parse(fs.Args()[1:]); err != nil {
			return err
		}
	}
	if err := checkOutput(*output); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &UsageError{Msg: "schema: at most one TABLE"}
	}
	if table != "" {
		d := schema.DocOf(table)
		if d == nil {
			return &UsageError{Msg: fmt.Sprintf("schema: no table or view %q (run 'tursync schema' for the list)", table)}
		}
		if *output == "json" {
			return writeJSON(m.Stdout, schemaDoc(*d))
		}
		printTableDoc(m.Stdout, *d)
		return nil
	}
	var docs []schema.Doc
	for _, d := range schema.Dictionary {
		if *internal || !d.Internal {
			docs = append(docs, d)
		}
	}
	if *output == "json" {
		out := make([]schemaTable, len(docs))
		for i, d := range docs {
			out[i] = schemaDoc(d)
		}
		return writeJSON(m.Stdout, map[string]any{"tables": out})
	}
	for _, d := range docs {
		fmt.Fprintf(m.Stdout, "%-28s %-5s %s\n", d.Name, d.Kind, d.Description)
	}
	return nil
}

// schemaTable is a Doc as `tursync schema --output json` prints it.
type schemaTable struct {
	Name        string         `json:"name"`
	Kind        string         `json:"kind"`
	Internal    bool           `json:"internal"`
	Description string         `json:"description"`
	Source      string         `json:"source"`
	Columns     []schemaColumn `json:"columns,omitempty"`
}

type schemaColumn struct {
	Name        string        `json:"name"`
	Type        string        `json:"type"`
	Description string        `json:"description"`
	Source      string        `json:"source"`
	Values      []schemaValue `json:"values,omitempty"`
}

type schemaValue struct {
	Value   string `json:"value"`
	Meaning string `json:"meaning"`
}

func schemaDoc(d schema.Doc) schemaTable {
	t := schemaTable{Name: d.Name, Kind: d.Kind, Internal: d.Internal, Description: d.Description, Source: d.Source}
	for _, c := range d.Columns {
		sc := schemaColumn{Name: c.Name, Type: c.Type, Description: c.Description, Source: c.Source}
		for _, v := range c.Values {
			sc.Values = append(sc.Values, schemaValue(v))
		}
		t.Columns = append(t.Columns, sc)
	}
	return t
}

// printTableDoc prints one table's description and columns.
func printTableDoc(w io.Writer, d schema.Doc) {
	fmt.Fprintf(w, "%s (%s): %s\nsource: %s\n", d.Name, d.Kind, d.Description, d.Source)
	if d.Internal {
		fmt.Fprintln(w, "internal: the daemon's own bookkeeping")
	}
	for _, c := range d.Columns {
		fmt.Fprintf(w, "\n  %s %s\n    %s\n    source: %s\n", c.Name, c.Type, c.Description, c.Source)
		for _, v := range c.Values {
			fmt.Fprintf(w, "    %-22s %s\n", v.Value, v.Meaning)
		}
	}
}
