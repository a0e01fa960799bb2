package metrics

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Probes are what the handlers ask of the daemon.
type Probes struct {
	// Alive reports an error when the scheduler no longer runs.
	Alive func() error
	// Ready reports an error when the mirror is unreachable or not migrated.
	Ready func(ctx context.Context) error
	// Status builds the /status document (the scheduler's Status), which
	// /status encodes as JSON.
	Status func(ctx context.Context) (any, error)
}

// Handler serves /metrics from reg, and the probes: /healthz, /readyz and
// /status (package statuspage serves the HTML status page).
func Handler(reg *prometheus.Registry, p Probes) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, Timeout: 10 * time.Second}))
	mux.Handle("GET /healthz", probe("not alive", func(context.Context) error { return p.Alive() }))
	mux.Handle("GET /readyz", probe("not ready", p.Ready))
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		st, ok := status(ctx, w, p.Status)
		if !ok {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(st)
	})
	return mux
}

// status calls get, or answers 503 with why it failed.
func status[T any](ctx context.Context, w http.ResponseWriter, get func(context.Context) (T, error)) (T, bool) {
	v, err := get(ctx)
	if err != nil {
		http.Error(w, "status: "+err.Error(), http.StatusServiceUnavailable)
		return v, false
	}
	return v, true
}

// probe answers 200 ok, or 503 with why check failed.
func probe(failure string, check func(ctx context.Context) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := check(ctx); err != nil {
			http.Error(w, failure+": "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
}
