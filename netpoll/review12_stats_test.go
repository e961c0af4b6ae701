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

// TestReview12StatsDialCounts: the connections a Dialer makes on a
// Server count in its Stats as those it accepts do (LiveConns while
// open, TotalConns once), and a dial that fails (refused) is no
// connection: TotalConns and LiveConns do not move, on every backend
// alike. Before, on epoll and io_uring a refused dial counted in
// TotalConns (its socket had been registered to wait for the connect):
// 5 where BackendStd said 2 after three refused dials, one dial and its
// accepted end.
func TestReview12StatsDialCounts(t *testing.T) {
	for _, be := range testBackends(true) {
		t.Run(be.String(), func(t *testing.T) {
			s, addr := startServer(t, echoHandler, WithBackend(be))
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			refused := ln.Addr().String()
			ln.Close() // nothing listens there now
			d := Dialer{Server: s, Timeout: 5 * time.Second}
			for range 3 {
				if c, err := d.DialContext(context.Background(), "tcp", refused); err == nil {
					c.Close()
					t.Fatal("a dial of a closed port succeeded")
				}
			}
			if n := s.Stats().TotalConns; n != 0 {
				t.Errorf("after 3 refused dials: TotalConns %d, want 0", n)
			}
			// The failed dial's socket is released after the dial
			// returned, as a closed connection's is after Close.
			if !reviewDocsWait(5*time.Second, func() bool { return s.Stats().LiveConns == 0 }) {
				t.Errorf("LiveConns %d after 3 refused dials", s.Stats().LiveConns)
			}
			c, err := d.DialContext(context.Background(), "tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			// The dialed end and the accepted end, both s's.
			if !reviewDocsWait(5*time.Second, func() bool { return s.Stats().LiveConns == 2 }) {
				t.Fatalf("LiveConns %d with a dialed connection and its accepted end open", s.Stats().LiveConns)
			}
			c.Close()
			if !reviewDocsWait(5*time.Second, func() bool { return s.Stats().LiveConns == 0 }) {
				t.Fatalf("LiveConns %d after both ends closed", s.Stats().LiveConns)
			}
			st := s.Stats()
			if st.TotalConns != 2 || st.Refused != 0 {
				t.Errorf("TotalConns %d, Refused %d after 3 refused dials and one connection (both ends s's); want 2, 0", st.TotalConns, st.Refused)
			}
			if st.BufferedIn != 0 || st.BufferedOut != 0 || st.PausedByBound != 0 || st.PausedByBudget != 0 {
				t.Errorf("gauges with nothing open: BufferedIn %d, BufferedOut %d, PausedByBound %d, PausedByBudget %d",
					st.BufferedIn, st.BufferedOut, st.PausedByBound, st.PausedByBudget)
			}
		})
	}
}
