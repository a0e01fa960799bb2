package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tursync/tursync/webhook"
)

// countingReceiver answers 204 and counts the events it got and their
// order; it does not verify (TestDeliveriesArriveVerifiedAndInOrder does,
// with the reference library): this measures tursync's side.
type countingReceiver struct {
	events, requests atomic.Int64
	lastID           atomic.Int64
	outOfOrder       atomic.Bool
}

func (c *countingReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var env struct {
		Data struct {
			Events []struct {
				Data struct {
					ID int64 `json:"id"`
				} `json:"data"`
			} `json:"events"`
		} `json:"data"`
	}
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &env); err != nil {
		w.WriteHeader(400)
		return
	}
	for _, e := range env.Data.Events {
		if e.Data.ID <= c.lastID.Load() {
			c.outOfOrder.Store(true)
		}
		c.lastID.Store(e.Data.ID)
	}
	c.events.Add(int64(len(env.Data.Events)))
	c.requests.Add(1)
	w.WriteHeader(204)
}

// peakHeap samples the heap in use until stop is closed.
func peakHeap(stop <-chan struct{}) <-chan uint64 {
	out := make(chan uint64, 1)
	go func() {
		var peak uint64
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-stop:
				out <- peak
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return out
}

// A burst of 10,000 changes (1% churn of the large org) goes out in
// batches of 100, in order, every event once.
func TestBurstIsDeliveredInBatches(t *testing.T) {
	recv := &countingReceiver{}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	st := mirror(t, time.Now)
	d := webhook.New(st.Outbox(), webhook.Options{})
	ep := webhook.Endpoint{ID: "burst", URL: srv.URL, Keys: [][]byte{make([]byte, 32)}, Batch: 100}
	d.Deliver(context.Background(), ep, []string{"acme"})
	addEvents(t, st, "acme", 10000)
	res := d.Deliver(context.Background(), ep, []string{"acme"})
	if res[0].Err != nil || res[0].Delivered != 10000 || res[0].Batches != 100 {
		t.Fatalf("burst: %+v, want 10,000 events in 100 batches", res[0])
	}
	if recv.events.Load() != 10000 || recv.requests.Load() != 100 || recv.outOfOrder.Load() {
		t.Fatalf("receiver: %d events in %d requests, out of order %v", recv.events.Load(), recv.requests.Load(), recv.outOfOrder.Load())
	}
}

// BenchmarkDeliverBurst delivers a burst of 1,000, 10,000 (1% churn of the
// large org) and 50,000 events to a local receiver in batches of 100, and
// reports events/s and the peak heap in use: flat in the burst's size,
// since a batch at a time is read.
func BenchmarkDeliverBurst(b *testing.B) {
	for _, n := range []int{1000, 10000, 50000} {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) { benchBurst(b, n) })
	}
}

func benchBurst(b *testing.B, n int) {
	for b.Loop() {
		b.StopTimer()
		recv := &countingReceiver{}
		srv := httptest.NewServer(recv)
		st := mirror(b, time.Now)
		d := webhook.New(st.Outbox(), webhook.Options{})
		ep := webhook.Endpoint{ID: "burst", URL: srv.URL, Keys: [][]byte{make([]byte, 32)}, Batch: 100}
		d.Deliver(context.Background(), ep, []string{"acme"})
		addEvents(b, st, "acme", n)
		runtime.GC()
		stop := make(chan struct{})
		peak := peakHeap(stop)
		b.StartTimer()
		start := time.Now()
		res := d.Deliver(context.Background(), ep, []string{"acme"})
		took := time.Since(start)
		b.StopTimer()
		close(stop)
		if res[0].Delivered != n {
			b.Fatalf("%+v", res[0])
		}
		b.ReportMetric(float64(n)/took.Seconds(), "events/s")
		b.ReportMetric(float64(<-peak)/(1<<20), "peak-heap-MiB")
		srv.Close()
		st.Close()
		b.StartTimer()
	}
}
