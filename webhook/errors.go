package webhook

import (
	"errors"
	"net/url"
)

// unwrapURLError drops the method and URL net/http puts in front of a
// transport error: the URL of an endpoint is configuration, and may hold
// a credential.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// redactedLocation is a redirect's target without its user info and query,
// which may hold a credential: enough to see where it pointed.
func redactedLocation(loc string) string {
	u, err := url.Parse(loc)
	if err != nil || loc == "" {
		return "(no usable Location)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}
