package netpoll

import (
	"context"
	"encoding/json"
	"expvar"
	"fmt"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// TestReview12StatsAddSumsEveryField: PollerStats.add, which makes
// Stats' totals out of the pollers' own counters, takes every field of
// PollerStats into the sum (the max for MaxEventsPerWait, as Stats
// says), so that a field added to PollerStats and forgotten in add fails
// here instead of reading 0 in every Stats.
func TestReview12StatsAddSumsEveryField(t *testing.T) {
	typ := reflect.TypeFor[PollerStats]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		var a, b PollerStats
		va, vb := reflect.ValueOf(&a).Elem().Field(i), reflect.ValueOf(&b).Elem().Field(i)
		switch f.Type.Kind() {
		case reflect.Uint64:
			va.SetUint(3)
			vb.SetUint(5)
		case reflect.Int64:
			va.SetInt(3)
			vb.SetInt(5)
		default:
			t.Fatalf("PollerStats.%s is a %v: this test knows uint64 and int64 counters only", f.Name, f.Type)
		}
		a.add(b)
		want := int64(8)
		if f.Name == "MaxEventsPerWait" {
			want = 5
		}
		var got int64
		if f.Type.Kind() == reflect.Uint64 {
			got = int64(va.Uint())
		} else {
			got = va.Int()
		}
		if got != want {
			t.Errorf("PollerStats.add: %s = %d after adding 5 to 3, want %d", f.Name, got, want)
		}
		// No other field moved.
		for j := range typ.NumField() {
			if j != i && !reflect.ValueOf(a).Field(j).IsZero() {
				t.Errorf("PollerStats.add of %s changed %s", f.Name, typ.Field(j).Name)
			}
		}
	}
}

// TestReview12StatsSnapshotCoversEveryField: every field of PollerStats
// is filled from a live counter, by the counters' snapshot or, for the
// ring's, by ringStats; a field that no code sets reads 0 forever.
// Each counter is set to a distinct value through its atomic and must
// show in the snapshot.
func TestReview12StatsSnapshotCoversEveryField(t *testing.T) {
	var c pollerCounters
	cv := reflect.ValueOf(&c).Elem()
	set := map[string]int64{}
	k := int64(1)
	for i := range cv.NumField() {
		f := cv.Field(i)
		name := cv.Type().Field(i).Name
		if name == "_" || name == "published" {
			continue // padding; the budget's own bookkeeping
		}
		// The fields are unexported: reached through their address.
		switch p := reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Interface().(type) {
		case interface{ Store(uint64) }:
			p.Store(uint64(k))
		case interface{ Store(int64) }:
			p.Store(k)
		default:
			t.Fatalf("pollerCounters.%s is a %v", name, f.Type())
		}
		set[strings.ToLower(name)] = k
		k++
	}
	// The counters named differently in PollerStats.
	alias := map[string]string{"pausedbybound": "pausedbound", "pausedbybudget": "pausedbudget"}
	ring := map[string]bool{"Submissions": true, "Completions": true, "Enters": true, "BuffersInUse": true}
	s := c.snapshot()
	sv := reflect.ValueOf(s)
	for i := range sv.NumField() {
		name := sv.Type().Field(i).Name
		if ring[name] {
			continue // ringStats' (BackendUring); checked by the io_uring tests
		}
		key := strings.ToLower(name)
		if a, ok := alias[key]; ok {
			key = a
		}
		want, ok := set[key]
		if !ok {
			t.Errorf("PollerStats.%s has no counter in pollerCounters", name)
			continue
		}
		var got int64
		if f := sv.Field(i); f.Kind() == reflect.Uint64 {
			got = int64(f.Uint())
		} else {
			got = f.Int()
		}
		if got != want {
			t.Errorf("snapshot: %s = %d, want %d (its counter's value)", name, got, want)
		}
	}
}

// TestReview12StatsExpvar: PublishExpvar shows every field of
// PollerStats, under its Go name, at the top level and in each
// PerPoller entry, as JSON numbers that match Stats; a read after the
// Server closed does not panic and still shows every field.
func TestReview12StatsExpvar(t *testing.T) {
	s, err := NewServer(echoHandler)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := s.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	name := fmt.Sprintf("review12-stats-%p", s)
	if err := s.PublishExpvar(name); err != nil {
		t.Fatal(err)
	}
	cl, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := echoByte(cl); err != nil {
		t.Fatal(err)
	}
	cl.Close()

	fields := reflect.VisibleFields(reflect.TypeFor[PollerStats]())
	check := func(when string) {
		t.Helper()
		var v map[string]any
		if err := json.Unmarshal([]byte(expvar.Get(name).String()), &v); err != nil {
			t.Fatalf("%s: expvar %s is not JSON: %v", when, name, err)
		}
		per, ok := v["PerPoller"].([]any)
		if !ok || len(per) == 0 {
			t.Fatalf("%s: expvar %s has no PerPoller list: %v", when, name, v["PerPoller"])
		}
		for _, f := range fields {
			if _, ok := v[f.Name].(float64); !ok {
				t.Errorf("%s: expvar %s lacks %s (or it is not a number): %v", when, name, f.Name, v[f.Name])
			}
			for i, p := range per {
				if _, ok := p.(map[string]any)[f.Name].(float64); !ok {
					t.Errorf("%s: expvar %s PerPoller[%d] lacks %s", when, name, i, f.Name)
				}
			}
		}
		if got, want := v["TotalConns"], float64(s.Stats().TotalConns); got != want || want != 1 {
			t.Errorf("%s: expvar TotalConns = %v, Stats %v, want 1", when, got, want)
		}
	}
	check("serving")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	s.Close()
	<-served
	check("closed")
}
