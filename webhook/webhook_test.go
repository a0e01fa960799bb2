package webhook_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tursync/tursync/internal/sqldtest"
	"github.com/tursync/tursync/storage"
	"github.com/tursync/tursync/webhook"
)

// LibEnv names the node_modules directory that holds the Standard
// Webhooks reference library (scripts/install-standardwebhooks.sh prints
// it); RequireEnv=1 (CI) fails the tests instead of skipping them without.
const (
	LibEnv     = "TURSYNC_STANDARDWEBHOOKS"
	RequireEnv = "TURSYNC_REQUIRE_STANDARDWEBHOOKS"
)

// receiver is the Node process of testdata/receiver.js.
type receiver struct {
	t   *testing.T
	url string
}

// delivery is what the receiver recorded of one request.
type delivery struct {
	ID        string          `json:"id"`
	Timestamp string          `json:"timestamp"`
	Verified  bool            `json:"verified"`
	Error     string          `json:"error"`
	Body      json.RawMessage `json:"body"`
	Answered  any             `json:"answered"`
}

func startReceiver(t *testing.T, secret string) *receiver {
	t.Helper()
	lib := os.Getenv(LibEnv)
	node, err := exec.LookPath("node")
	if lib == "" || err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("node and %s are required (%s=1)", LibEnv, RequireEnv)
		}
		t.Skipf("needs node and %s (scripts/install-standardwebhooks.sh)", LibEnv)
	}
	cmd := exec.Command(node, filepath.Join("testdata", "receiver.js"))
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
	return &receiver{t: t, url: "http://127.0.0.1:" + port}
}

// respond sets the receiver's next answers.
func (r *receiver) respond(answers ...map[string]any) {
	r.t.Helper()
	b, _ := json.Marshal(map[string]any{"respond": answers})
	resp, err := http.Post(r.url+"/control", "application/json", strings.NewReader(string(b)))
	if err != nil {
		r.t.Fatal(err)
	}
	resp.Body.Close()
}

func (r *receiver) received() []delivery {
	r.t.Helper()
	resp, err := http.Get(r.url + "/received")
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []delivery
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		r.t.Fatal(err)
	}
	return out
}

// events are the change events a receiver got, in the order it got them
// (a batch's in its order), from verified deliveries only.
func events(t *testing.T, ds []delivery) []webhook.Envelope {
	t.Helper()
	var out []webhook.Envelope
	for _, d := range ds {
		if !d.Verified {
			continue
		}
		var env struct {
			Type string `json:"type"`
			Data struct {
				Events []webhook.Envelope `json:"events"`
			} `json:"data"`
		}
		if err := json.Unmarshal(d.Body, &env); err != nil {
			t.Fatal(err)
		}
		if env.Type != "batch" {
			var one webhook.Envelope
			json.Unmarshal(d.Body, &one)
			out = append(out, one)
			continue
		}
		out = append(out, env.Data.Events...)
	}
	return out
}

func eventID(t *testing.T, e webhook.Envelope) int64 {
	t.Helper()
	b, _ := json.Marshal(e.Data)
	var d webhook.EventData
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return d.ID
}

func newSecret(seed byte) (string, []byte) {
	key := make([]byte, 32)
	for i := range key {
		key[i] = seed + byte(i)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(key), key
}

// clock is the wall clock plus what a test advanced it by: receivers
// check webhook-timestamp against their own clock.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// mirror opens a mirror file and writes n change events for an account,
// cycling through a few types.
func mirror(t *testing.T, now func() time.Time) *storage.Store {
	t.Helper()
	st, err := storage.Open(context.Background(), "file:"+filepath.Join(t.TempDir(), "m.db"), storage.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// sqldMirror opens a mirror on a real sqld (internal/sqldtest).
func sqldMirror(t *testing.T, now func() time.Time) *storage.Store {
	t.Helper()
	srv := sqldtest.Start(t, sqldtest.Options{})
	st, err := storage.Open(context.Background(), srv.URL, storage.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

var kinds = []struct{ entity, op, changes string }{
	{"role_assignments", "updated", `{"role_id":{"old":"member","new":"admin"},"remote_data":{"old":"{}","new":"{\"role\":\"admin\"}"}}`},
	{"api_tokens", "created", `{"name":{"old":null,"new":"ci"}}`},
	{"invites", "deleted", `{"deleted_reason":{"old":null,"new":"accepted"}}`},
	{"users", "created", `{"email":{"old":null,"new":"x@example.com"}}`},
}

func addEvents(t *testing.T, st *storage.Store, account string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		k := kinds[i%len(kinds)]
		if _, err := st.DB().Exec(`INSERT INTO change_events (account_id, run_id, at, entity, entity_id, organization_id, op, changes)
			VALUES (?, 1, ?, ?, ?, 'org1', ?, ?)`, account, time.Now().UTC().Format(time.RFC3339), k.entity, fmt.Sprintf("org1/e%d", i), k.op, k.changes); err != nil {
			t.Fatal(err)
		}
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
