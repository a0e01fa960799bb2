package storage

import "net/http"

// The connections to a libSQL server stay open between requests.
//
// libsql-client-go sends every request to a server (sqld, Turso Cloud)
// through http.DefaultClient and offers no option to pass another. Its
// transport keeps 2 idle connections per host, so a process with more
// requests in flight than that closes a connection after nearly every
// request and opens a new one for the next: three daemons sharing a sqld
// mirror left about 70 closed connections a second (ss, in TIME_WAIT), each
// a TCP handshake, and each a local port the kernel hands out again, even
// to a listener about to bind it.

// idleConnsPerHost is how many idle connections to one server are kept:
// above the mirror's 4 pooled connections plus the readers beside them,
// and above an extraction's connections to one tenant database.
const idleConnsPerHost = 32

// It runs at init, before any request: a transport's settings must not be
// changed while it serves one. The transport is the process's, so the
// extractions' connections to tenant databases (extract, through the
// same client) keep theirs too.
func init() {
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		t.MaxIdleConnsPerHost = idleConnsPerHost
	}
}
