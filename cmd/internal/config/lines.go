package config

import (
	"fmt"
	"sort"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// lineIndex maps key paths such as "http.listen", "sensor[1].normal" or "bus[0]" (the table
// header) to where they are written and what kind of value they hold, so that errors found
// after decoding can still name a line.
type lineIndex map[string]indexEntry

// indexEntry is one key of the document: its line, and the kind of its value (Table or
// ArrayTable for a table header).
type indexEntry struct {
	line int
	kind unstable.Kind
}

// line returns the line of key; for a key left out of the file, the line of its table's
// header (so "sensor[1].unit" falls back to "sensor[1]"); 0 if neither is known.
func (ix lineIndex) line(key string) int {
	for {
		if e, ok := ix[key]; ok {
			return e.line
		}
		cut := strings.LastIndexAny(key, ".")
		if cut < 0 {
			return 0
		}
		key = key[:cut]
	}
}

// indexLines walks the TOML document and records the line of every table header and key,
// also inside inline tables (http = {listen = "..."}) and arrays of them
// (sensor = [{id = "P1"}, ...]).
func indexLines(data []byte) (lineIndex, error) {
	ix := lineIndex{}
	lines := newLineStarts(data)
	arrays := map[string]int{} // array table name -> number of entries so far
	prefix := ""
	var p unstable.Parser
	p.Reset(data)
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			name := joinKey(e.Key())
			prefix = name
			if e.Kind == unstable.ArrayTable {
				prefix = fmt.Sprintf("%s[%d]", name, arrays[name])
				arrays[name]++
			}
			ix[prefix] = indexEntry{line: lines.of(e), kind: e.Kind}
		case unstable.KeyValue:
			ix.addKeyValue(lines, prefix, e)
		}
	}
	if err := p.Error(); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	return ix, nil
}

// addKeyValue records the key-value e under prefix, and the keys of the inline tables it
// holds.
func (ix lineIndex) addKeyValue(lines lineStarts, prefix string, e *unstable.Node) {
	key := joinKey(e.Key())
	if prefix != "" {
		key = prefix + "." + key
	}
	v := e.Value()
	ix[key] = indexEntry{line: lines.of(e), kind: v.Kind}
	switch v.Kind {
	case unstable.InlineTable:
		for it := v.Children(); it.Next(); {
			ix.addKeyValue(lines, key, it.Node())
		}
	case unstable.Array:
		for j, it := 0, v.Children(); it.Next(); j++ {
			if t := it.Node(); t.Kind == unstable.InlineTable {
				for kv := t.Children(); kv.Next(); {
					ix.addKeyValue(lines, fmt.Sprintf("%s[%d]", key, j), kv.Node())
				}
			}
		}
	}
}

func joinKey(it unstable.Iterator) string {
	var parts []string
	for it.Next() {
		parts = append(parts, string(it.Node().Data))
	}
	return strings.Join(parts, ".")
}

// lineStarts holds the offset of the start of every line of a document, in order. The
// parser's own Shape counts the lines from the document's start at every call, which made
// indexing a file of n keys take time in n squared.
type lineStarts []int

func newLineStarts(data []byte) lineStarts {
	starts := lineStarts{0}
	for i, c := range data {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	return starts
}

// of returns the 1-based line of the first key node of e, 0 if e has none.
func (ls lineStarts) of(e *unstable.Node) int {
	it := e.Key()
	if !it.Next() {
		return 0
	}
	off := int(it.Node().Raw.Offset)
	// The number of line starts at or before off is the line number.
	return sort.Search(len(ls), func(i int) bool { return ls[i] > off })
}
