package netpoll

import (
	"expvar"
	"fmt"
	"sync"
)

// expvarMu makes the check-then-publish of PublishExpvar atomic, so two
// servers racing for one name get an error, not expvar's panic.
var expvarMu sync.Mutex

// PublishExpvar publishes the server's Stats under name in the standard
// library's expvar registry, so that /debug/vars (or expvar.Get) shows a
// fresh snapshot on every read. Publication is opt-in because expvar's
// registry is process-wide and a name can be taken only once: publishing
// a name already in use returns an error rather than panicking as
// expvar.Publish would.
func (s *Server) PublishExpvar(name string) error {
	if name == "" {
		return fmt.Errorf("netpoll: publish expvar: empty name")
	}
	expvarMu.Lock()
	defer expvarMu.Unlock()
	if expvar.Get(name) != nil {
		return fmt.Errorf("netpoll: publish expvar: name %q already in use", name)
	}
	expvar.Publish(name, expvar.Func(func() any { return s.Stats() }))
	return nil
}
