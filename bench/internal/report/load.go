package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Load reads a report written by Write: a report.json, or the directory
// holding one. It fails on a file that is not a report of this schema.
func Load(path string) (*Report, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(path, "report.json")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load report: %w", err)
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("load report %s: not a bench report.json: %w", path, err)
	}
	if r.Schema != Schema {
		return nil, fmt.Errorf("load report %s: schema %q, want %q (not a bench report, or from an incompatible version)", path, r.Schema, Schema)
	}
	return &r, nil
}
