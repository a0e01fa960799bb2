// Package webhooktest runs a webhook receiver for tests: a Node process
// (receiver.js) that verifies every delivery with the Standard Webhooks
// reference library, records what it got, and answers as told.
package webhooktest

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/tursync/tursync/webhook"
)

// LibEnv names the node_modules directory that holds the reference
// library (scripts/install-standardwebhooks.sh prints it); RequireEnv=1
// (CI) fails the tests that need it instead of skipping them.
const (
	LibEnv     = "TURSYNC_STANDARDWEBHOOKS"
	RequireEnv = "TURSYNC_REQUIRE_STANDARDWEBHOOKS"
)

// Receiver is a running receiver.
type Receiver struct {
	t   testing.TB
	URL string // its base URL; deliveries go to URL + "/hook"
}

// Delivery is what the receiver recorded of one request.
type Delivery struct {
	ID        string          `json:"id"`
	Timestamp string          `json:"timestamp"`
	Verified  bool            `json:"verified"`
	Error     string          `json:"error"`
	Body      json.RawMessage `json:"body"`
	Answered  any             `json:"answered"`
}

// Start runs a receiver that verifies with secret ("whsec_..."), for the
// test's life.
func Start(t testing.TB, secret string) *Receiver {
	t.Helper()
	lib := os.Getenv(LibEnv)
	node, err := exec.LookPath("node")
	if lib == "" || err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("node and %s are required (%s=1)", LibEnv, RequireEnv)
		}
		t.Skipf("needs node and %s (scripts/install-standardwebhooks.sh)", LibEnv)
	}
	_, self, _, _ := runtime.Caller(0)
	cmd := exec.Command(node, filepath.Join(filepath.Dir(self), "receiver.js"))
	cmd.Env = append(os.Environ(), "NODE_PATH="+lib, "WEBHOOK_SECRET="+secret)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	port, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		t.Fatalf("receiver did not start: %q %v", line, err)
	}
	return &Receiver{t: t, URL: "http://127.0.0.1:" + port}
}

// Respond sets the receiver's next answers: {"status": 500},
// {"status": 429, "retry_after": "7"}, {"delay_ms": 2000}, {"close": true}.
func (r *Receiver) Respond(answers ...map[string]any) {
	r.t.Helper()
	b, _ := json.Marshal(map[string]any{"respond": answers})
	resp, err := http.Post(r.URL+"/control", "application/json", strings.NewReader(string(b)))
	if err != nil {
		r.t.Fatal(err)
	}
	resp.Body.Close()
}

// Received is every delivery so far, in the order they arrived.
func (r *Receiver) Received() []Delivery {
	r.t.Helper()
	resp, err := http.Get(r.URL + "/received")
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []Delivery
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		r.t.Fatal(err)
	}
	return out
}

// Event is one delivered event, as a receiver reads it (an operational
// event's data reads as webhook.OpsData; only its ID is zero here).
type Event struct {
	Type      string            `json:"type"`
	Timestamp string            `json:"timestamp"`
	Data      webhook.EventData `json:"data"`
}

// Events are the events of the verified deliveries, in the order they
// arrived (a batch's in its order).
func Events(t testing.TB, ds []Delivery) []Event {
	t.Helper()
	var out []Event
	for _, d := range ds {
		if !d.Verified {
			continue
		}
		var env struct {
			Type string `json:"type"`
			Data struct {
				Events []Event `json:"events"`
			} `json:"data"`
		}
		if err := json.Unmarshal(d.Body, &env); err != nil {
			t.Fatal(err)
		}
		if env.Type != "batch" {
			var one Event
			if err := json.Unmarshal(d.Body, &one); err != nil {
				t.Fatal(err)
			}
			out = append(out, one)
			continue
		}
		out = append(out, env.Data.Events...)
	}
	return out
}
