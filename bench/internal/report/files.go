package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Write stores report.md, report.json and the charts in dir, creating it.
func (r *Report) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	r.Charts = r.BuildCharts()
	// Lists are always present in the JSON (empty, never null), so scripts
	// can index them without checks.
	for _, l := range []*[]string{&r.Notes, &r.Errors} {
		if *l == nil {
			*l = []string{}
		}
	}
	if r.Sweep == nil {
		r.Sweep = []Case{}
	}
	for _, c := range r.Charts {
		if err := os.WriteFile(filepath.Join(dir, c.File), c.svg, 0o644); err != nil {
			return err
		}
	}
	j, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "report.json"), append(j, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "report.md"), []byte(r.Markdown()), 0o644)
}
