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
