package storage_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	stdsync "sync"
	"sync/atomic"
	"testing"
)

// Eight requests at a time through http.DefaultClient, as
// libsql-client-go sends them, reuse their connections (storage's init,
// httpconns.go): with the transport's default of 2 idle per host, 296 of
// the 400 opened one.
func TestDefaultClientKeepsItsConnections(t *testing.T) {
	var opened atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	const workers, rounds = 8, 50
	for range rounds {
		var wg stdsync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := http.DefaultClient.Post(srv.URL, "application/json", nil)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}()
		}
		wg.Wait()
	}
	// A connection per worker, and a few more when a request starts
	// before another's connection is back in the pool.
	if n := opened.Load(); n > 3*workers {
		t.Errorf("%d requests opened %d connections, want at most %d", workers*rounds, n, 3*workers)
	}
}
