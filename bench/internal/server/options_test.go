package server

import (
	"reflect"
	"testing"

	"github.com/upoll/upoll/netpoll"
)

func TestParseOptions(t *testing.T) {
	o, err := ParseOptions("trigger=edge,wait=spin,dispatch=inline,pollers=2")
	if err != nil {
		t.Fatal(err)
	}
	if o != (Options{Trigger: "edge", Wait: "spin", Dispatch: "inline", Pollers: 2}) {
		t.Fatalf("got %+v", o)
	}
	if o.String() != "trigger=edge,wait=spin,dispatch=inline,pollers=2" {
		t.Fatalf("String() = %q", o.String())
	}
	// Every spelling UPOLL accepts is accepted, and stored as netpoll's name.
	o, err = ParseOptions("trigger=et,wait=block")
	if err != nil || o.Trigger != "edge" || o.Wait != "block" {
		t.Fatalf("trigger=et: got %+v, %v", o, err)
	}
	if o, err := ParseOptions("Trigger=LT"); err != nil || o.Trigger != "level" {
		t.Fatalf("Trigger=Level: got %+v, %v", o, err)
	}
	// The backend and spin keys, as UPOLL spells them.
	o, err = ParseOptions("backend=io_uring,wait=spin,spin=64")
	if err != nil || o != (Options{Backend: "uring", Wait: "spin", Spin: 64}) {
		t.Fatalf("backend=io_uring,spin=64: got %+v, %v", o, err)
	}
	if o.String() != "backend=uring,wait=spin,spin=64" {
		t.Fatalf("String() = %q", o.String())
	}
	for _, bad := range []string{"trigger", "trigger=xx", "pollers=0", "pollers=x", "color=red", "backend=kqueue", "spin=0", "spin=70000"} {
		if _, err := ParseOptions(bad); err == nil {
			t.Errorf("ParseOptions(%q): no error", bad)
		}
	}
	if g := SweepGrid([]int{1, 2}); len(g) != 3*4*4*2 {
		t.Fatalf("grid has %d points", len(g))
	}
}

func TestUpollOptions(t *testing.T) {
	opts, h, err := upollOptions("trigger=oneshot,wait=runtime,dispatch=inline,pollers=3,echo=slice")
	if err != nil || len(opts) != 4 || !sameFunc(h, upollEchoSlice) {
		t.Fatalf("opts %d, handler slice %v, err %v", len(opts), sameFunc(h, upollEchoSlice), err)
	}
	// The echo key picks the handler, copy by default.
	for opt, want := range map[string]netpoll.Handler{"": upollEchoCopy, "echo=copy": upollEchoCopy, "echo=write": upollEchoWrite} {
		if _, h, err := upollOptions(opt); err != nil || !sameFunc(h, want) {
			t.Errorf("%q: another handler, or %v", opt, err)
		}
	}
	// The backend key reaches netpoll: a config built from the options
	// names it.
	opts, _, err = upollOptions("backend=std")
	if err != nil || len(opts) != 1 {
		t.Fatalf("backend=std: opts %d err %v", len(opts), err)
	}
	var c netpoll.Config
	for _, o := range opts {
		o(&c)
	}
	if c.Backend != netpoll.BackendStd {
		t.Fatalf("backend=std: config has backend %v", c.Backend)
	}
	if _, _, err := upollOptions("wait=forever"); err == nil {
		t.Fatal("bad option accepted")
	}
}

// sameFunc reports whether a and b are the same function.
func sameFunc(a, b netpoll.Handler) bool {
	return reflect.ValueOf(a).Pointer() == reflect.ValueOf(b).Pointer()
}
