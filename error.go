package maskservice

import (
	"errors"
	"fmt"
)

// Error codes shared by the domain and the API. They appear verbatim as the "code" of the
// JSON error body; web maps each to one HTTP status in a single table.
const (
	EINVALID      = "invalid"      // the request or the configuration is malformed
	ENOTFOUND     = "not_found"    // the named object does not exist
	ECONFLICT     = "conflict"     // the object is not in a state that allows the action
	EFORBIDDEN    = "forbidden"    // signed in, but without the needed permission
	EUNAUTHORIZED = "unauthorized" // not signed in, or the credentials are wrong
	ELOCKED       = "locked"       // the account is locked for a while
	ELIMIT        = "limit"        // too many requests or connections
	EUNAVAILABLE  = "unavailable"  // the service is not ready or is shutting down
	EINTERNAL     = "internal"     // a bug or an unexpected failure
)

// Error is an error with a code from the list above and a message fit for the person who made
// the request. Messages are lowercase and name the action and the object.
type Error struct {
	Code    string
	Message string
	// Field names the input field at fault, when there is one: a configuration key such as
	// "normal" or a query parameter such as "max_points". Empty otherwise.
	Field string
}

// Error implements the error interface.
func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldErrorf returns an *Error with code EINVALID about the named input field.
func FieldErrorf(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Message: fmt.Sprintf(format, args...), Field: field}
}

// ErrorField returns the Field of the first *Error in err's chain, or "".
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for any other
// non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of the first *Error in err's chain, and a generic text for
// any other error so that internal details never reach a client.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
