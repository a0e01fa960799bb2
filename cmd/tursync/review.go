package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/tursync/tursync/storage"
)

// reviewFormats are what `tursync export access-review --format` writes.
var reviewFormats = []string{"csv", "json"}

// reviewColumns are the access review's fields, in the CSV's order and
// as the JSON names them (docs/access-review.schema.json).
var reviewColumns = []string{"account", "organization", "organization_name", "user_id", "username", "name", "email", "role", "status",
	"since", "since_source", "last_activity_at", "mfa", "first_seen_at"}

// reviewRecord is one row of the JSON format.
type reviewRecord struct {
	Account          string  `json:"account"`
	Organization     string  `json:"organization"`
	OrganizationName string  `json:"organization_name"`
	UserID           string  `json:"user_id"`
	Username         *string `json:"username"`
	Name             *string `json:"name"`
	Email            *string `json:"email"`
	Role             string  `json:"role"`
	Status           string  `json:"status"`
	Since            string  `json:"since"`
	SinceSource      string  `json:"since_source"`
	LastActivityAt   *string `json:"last_activity_at"`
	MFA              *bool   `json:"mfa"`
	FirstSeenAt      string  `json:"first_seen_at"`
}

// reviewDocument is the JSON format.
type reviewDocument struct {
	Schema      string         `json:"$schema"`
	GeneratedAt string         `json:"generated_at"`
	Rows        []reviewRecord `json:"rows"`
}

// reviewSchemaID names docs/access-review.schema.json, the JSON format's
// schema.
const reviewSchemaID = "https://github.com/tursync/tursync/blob/main/docs/access-review.schema.json"

// runExport is `tursync export access-review`.
func (m *Main) runExport(ctx context.Context, args []string) error {
	fs := m.flags("export")
	if len(args) == 0 || args[0] != "access-review" {
		fs.Usage()
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			return errHelp
		}
		return &UsageError{Msg: "export: want access-review (tursync export access-review --config FILE --format csv|json)"}
	}
	account := fs.String("account", "", "only this account")
	org := fs.String("org", "", "only this organization slug")
	format := fs.String("format", "", requiredMark+"csv or json")
	out := fs.String("out", "-", "the file to write (atomically: all or nothing); - for standard output")
	cfg, _, err := m.parseWithConfig(fs, args[1:])
	if err != nil {
		return err
	}
	if !slices.Contains(reviewFormats, *format) {
		return &UsageError{Msg: fmt.Sprintf("export access-review: --format %q: want csv or json", *format)}
	}
	var accounts []string
	for _, a := range cfg.Accounts {
		if *account == "" || a.ID == *account {
			accounts = append(accounts, a.ID)
		}
	}
	if len(accounts) == 0 {
		return &UsageError{Msg: fmt.Sprintf("export access-review: --account %q is not in the config", *account)}
	}
	st, err := m.wiring().openStore(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer st.Close()
	rows, err := st.AccessReview(ctx, accounts, *org)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if *format == "csv" {
		err = writeReviewCSV(&buf, rows)
	} else {
		err = writeReviewJSON(&buf, rows, m.Now())
	}
	if err != nil {
		return err
	}
	if *out == "-" {
		_, err := m.Stdout.Write(buf.Bytes())
		return err
	}
	if err := writeFileAtomic(*out, buf.Bytes()); err != nil {
		return fmt.Errorf("export access-review: %w", err)
	}
	fmt.Fprintf(m.Stderr, "wrote %d rows to %s\n", len(rows), *out)
	return nil
}

func writeReviewCSV(w io.Writer, rows []storage.ReviewRow) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(reviewColumns); err != nil {
		return err
	}
	for _, r := range rows {
		mfa := ""
		if r.MFA != nil {
			mfa = strconv.FormatBool(*r.MFA)
		}
		if err := cw.Write([]string{r.Account, r.Org, r.OrgName, r.UserID, r.Username, r.Name, r.Email, r.Role, r.Status, r.Since, r.SinceSource,
			r.LastActivity, mfa, r.FirstSeenAt}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func writeReviewJSON(w io.Writer, rows []storage.ReviewRow, now time.Time) error {
	orNull := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	doc := reviewDocument{Schema: reviewSchemaID, GeneratedAt: now.UTC().Format(time.RFC3339), Rows: []reviewRecord{}}
	for _, r := range rows {
		doc.Rows = append(doc.Rows, reviewRecord{Account: r.Account, Organization: r.Org, OrganizationName: r.OrgName, UserID: r.UserID,
			Username: orNull(r.Username), Name: orNull(r.Name), Email: orNull(r.Email), Role: r.Role, Status: r.Status, Since: r.Since,
			SinceSource: r.SinceSource, LastActivityAt: orNull(r.LastActivity), MFA: r.MFA, FirstSeenAt: r.FirstSeenAt})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// writeFileAtomic writes data to path all or nothing: a temporary file
// beside it, synced, then renamed over it.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o640); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
