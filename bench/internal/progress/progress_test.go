package progress

import (
	"strings"
	"testing"
	"time"
)

func TestLine(t *testing.T) {
	l := Line(5, 10, 10*time.Second, "echo")
	if !strings.Contains(l, " 50% 5/10 eta 10s  echo") || strings.Count(l, "#") != 14 {
		t.Fatalf("line %q", l)
	}
	var nilBar *Bar
	nilBar.Step("x") // -quiet: must not panic
	nilBar.Done()
	nilBar.Finish()
	var sb strings.Builder
	b := New(&sb, 2)
	b.Step("a")
	b.Done()
	b.Finish()
	if !strings.Contains(sb.String(), "100% 2/2") {
		t.Fatalf("output %q", sb.String())
	}
}
