package webhook_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tursync/tursync/internal/sqldtest"
	"github.com/tursync/tursync/internal/testmirror"
	"github.com/tursync/tursync/internal/webhooktest"
	"github.com/tursync/tursync/storage"
)

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

// mirror opens a test mirror (internal/testmirror: a file, or sqld with
// TURSYNC_TEST_MIRROR=sqld).
func mirror(t testing.TB, now func() time.Time) *storage.Store {
	t.Helper()
	return testmirror.Open(t, storage.Options{Now: now}).Store
}

// sqldMirror opens a mirror on a real sqld (internal/sqldtest).
func sqldMirror(t *testing.T, now func() time.Time) *storage.Store {
	t.Helper()
	return testmirror.OpenURL(t, sqldtest.Start(t, sqldtest.Options{}).URL, storage.Options{Now: now}).Store
}

var kinds = []struct{ entity, op, changes string }{
	{"role_assignments", "updated", `{"role_id":{"old":"member","new":"admin"},"remote_data":{"old":"{}","new":"{\"role\":\"admin\"}"}}`},
	{"api_tokens", "created", `{"name":{"old":null,"new":"ci"}}`},
	{"invites", "deleted", `{"deleted_reason":{"old":null,"new":"accepted"}}`},
	{"users", "created", `{"email":{"old":null,"new":"x@example.com"}}`},
}

func addEvents(t testing.TB, st *storage.Store, account string, n int) {
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

func startReceiver(t *testing.T, secret string) *webhooktest.Receiver {
	return webhooktest.Start(t, secret)
}
