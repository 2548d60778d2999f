package config

import (
	"fmt"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// lineIndex maps key paths such as "http.listen", "sensor[1].normal" or "bus[0]" (the table
// header) to the line they are written on, so that errors found after decoding can still name
// a line.
type lineIndex map[string]int

// line returns the line of key; for a key left out of the file, the line of its table's
// header (so "sensor[1].unit" falls back to "sensor[1]"); 0 if neither is known.
func (ix lineIndex) line(key string) int {
	for {
		if n, ok := ix[key]; ok {
			return n
		}
		cut := strings.LastIndexAny(key, ".")
		if cut < 0 {
			return 0
		}
		key = key[:cut]
	}
}

// indexLines walks the TOML document and records the line of every table header and key.
func indexLines(data []byte) (lineIndex, error) {
	ix := lineIndex{}
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
			ix[prefix] = lineOf(&p, e)
		case unstable.KeyValue:
			key := joinKey(e.Key())
			if prefix != "" {
				key = prefix + "." + key
			}
			ix[key] = lineOf(&p, e)
		}
	}
	if err := p.Error(); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	return ix, nil
}

func joinKey(it unstable.Iterator) string {
	var parts []string
	for it.Next() {
		parts = append(parts, string(it.Node().Data))
	}
	return strings.Join(parts, ".")
}

// lineOf returns the line of the first key node of e.
func lineOf(p *unstable.Parser, e *unstable.Node) int {
	it := e.Key()
	if it.Next() {
		return p.Shape(it.Node().Raw).Start.Line
	}
	return 0
}
