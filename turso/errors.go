package turso

import (
	"errors"
	"fmt"
)

// Class sorts an API failure into the buckets the mirror records in
// sync_scopes.error_class.
type Class string

// The error classes. Mirror errors are classified by the storage layer; the
// client produces the rest.
const (
	ClassAuth        Class = "auth"
	ClassForbidden   Class = "forbidden"
	ClassPlan        Class = "plan"
	ClassRateLimited Class = "rate_limited"
	ClassServer      Class = "server"
	ClassNetwork     Class = "network"
	ClassDecode      Class = "decode"
	// ClassNotFound is a 404: a misspelt or deleted org, never a server
	// fault.
	ClassNotFound Class = "not_found"
)

// APIError is every failure of a Platform API call. It never carries the
// bearer token: only the route template, the org, the status and what the API
// said.
type APIError struct {
	Method   string // "" is GET
	Endpoint string // route template, e.g. /v1/organizations/{organizationSlug}/members
	Org      string // the organization slug of the call, if any
	Status   int    // HTTP status; 0 when no response arrived
	Message  string // the API's "error" field, or the start of a non-JSON body
	Code     string // the API's "code" field, when sent
	Class    Class
	Err      error // the underlying transport or decode error, if any
	// Hint says what to do about it, when the client knows (a refused
	// token: which variable or file holds it and how to make another).
	Hint string
}

func (e *APIError) Error() string {
	method := e.Method
	if method == "" {
		method = "GET"
	}
	where := method + " " + e.Endpoint
	if e.Org != "" {
		where += " (org " + e.Org + ")"
	}
	msg := fmt.Sprintf("%s: %s", where, e.Class)
	if e.Status != 0 {
		msg += fmt.Sprintf(" (HTTP %d)", e.Status)
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Code != "" {
		msg += " [code " + e.Code + "]"
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	if e.Hint != "" {
		msg += "; " + e.Hint
	}
	return msg
}

func (e *APIError) Unwrap() error { return e.Err }

// ClassOf returns the class of an API error, or "" when err is not one.
func ClassOf(err error) Class {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Class
	}
	return ""
}

// StatusOf returns the HTTP status of an API error, or 0.
func StatusOf(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

func classifyStatus(status int) Class {
	switch {
	case status == 401:
		return ClassAuth
	case status == 402:
		return ClassPlan
	case status == 403:
		return ClassForbidden
	case status == 404:
		return ClassNotFound
	case status == 429:
		return ClassRateLimited
	default:
		// 5xx and any status the read API never documents for these routes
		// (400, 409): the server answered something we cannot use.
		return ClassServer
	}
}
