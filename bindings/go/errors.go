package jwks

/*
#include <jwks.h>
*/
import "C"

import (
	"errors"
	"fmt"
)

// Status is a libjwks status code (jwks_status in the C header).
type Status int

// The status codes, as in include/jwks.h.
const (
	StatusOK                   Status = C.JWKS_OK
	StatusInvalidArgument      Status = C.JWKS_ERR_INVALID_ARGUMENT
	StatusConnection           Status = C.JWKS_ERR_CONNECTION
	StatusTimeout              Status = C.JWKS_ERR_TIMEOUT
	StatusTLS                  Status = C.JWKS_ERR_TLS
	StatusHTTPStatus           Status = C.JWKS_ERR_HTTP_STATUS
	StatusInvalidJWKS          Status = C.JWKS_ERR_INVALID_JWKS
	StatusNoSigningKeys        Status = C.JWKS_ERR_NO_SIGNING_KEYS
	StatusKeyNotFound          Status = C.JWKS_ERR_KEY_NOT_FOUND
	StatusMalformedToken       Status = C.JWKS_ERR_MALFORMED_TOKEN
	StatusMissingKid           Status = C.JWKS_ERR_MISSING_KID
	StatusUnsupportedAlgorithm Status = C.JWKS_ERR_UNSUPPORTED_ALGORITHM
	StatusAlgorithmNotAllowed  Status = C.JWKS_ERR_ALGORITHM_NOT_ALLOWED
	StatusBadSignature         Status = C.JWKS_ERR_BAD_SIGNATURE
	StatusExpired              Status = C.JWKS_ERR_EXPIRED
	StatusNotYetValid          Status = C.JWKS_ERR_NOT_YET_VALID
	StatusWrongAudience        Status = C.JWKS_ERR_WRONG_AUDIENCE
	StatusWrongIssuer          Status = C.JWKS_ERR_WRONG_ISSUER
	StatusWrongTyp             Status = C.JWKS_ERR_WRONG_TYP
	StatusMissingClaim         Status = C.JWKS_ERR_MISSING_CLAIM
	StatusUnsupportedCritical  Status = C.JWKS_ERR_UNSUPPORTED_CRITICAL
	StatusResponseTooLarge     Status = C.JWKS_ERR_RESPONSE_TOO_LARGE
	StatusRedirect             Status = C.JWKS_ERR_REDIRECT
	StatusTokenTooLarge        Status = C.JWKS_ERR_TOKEN_TOO_LARGE
	StatusIssuerNotAllowed     Status = C.JWKS_ERR_ISSUER_NOT_ALLOWED
	StatusDiscovery            Status = C.JWKS_ERR_DISCOVERY
	StatusForked               Status = C.JWKS_ERR_FORKED
	StatusCancelled            Status = C.JWKS_ERR_CANCELLED
	StatusInternal             Status = C.JWKS_ERR_INTERNAL
)

// String names the status, e.g. "JWKS_ERR_EXPIRED".
func (s Status) String() string { return C.GoString(C.jwks_status_str(C.int(s))) }

// Error is a failure from libjwks: its status and the library's message. Compare with the
// Err* values using errors.Is (the status decides), or get it with errors.As.
type Error struct {
	Status  Status
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return e.Status.String()
	}
	return fmt.Sprintf("%s: %s", e.Status, e.Message)
}

// Is reports whether target is an *Error with the same status.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Status == e.Status
}

func sentinel(s Status) *Error { return &Error{Status: s} }

// Sentinels for errors.Is.
var (
	ErrInvalidArgument      = sentinel(StatusInvalidArgument)
	ErrConnection           = sentinel(StatusConnection)
	ErrTimeout              = sentinel(StatusTimeout)
	ErrTLS                  = sentinel(StatusTLS)
	ErrHTTPStatus           = sentinel(StatusHTTPStatus)
	ErrInvalidJWKS          = sentinel(StatusInvalidJWKS)
	ErrNoSigningKeys        = sentinel(StatusNoSigningKeys)
	ErrKeyNotFound          = sentinel(StatusKeyNotFound)
	ErrMalformedToken       = sentinel(StatusMalformedToken)
	ErrMissingKid           = sentinel(StatusMissingKid)
	ErrUnsupportedAlgorithm = sentinel(StatusUnsupportedAlgorithm)
	ErrAlgorithmNotAllowed  = sentinel(StatusAlgorithmNotAllowed)
	ErrBadSignature         = sentinel(StatusBadSignature)
	ErrExpired              = sentinel(StatusExpired)
	ErrNotYetValid          = sentinel(StatusNotYetValid)
	ErrWrongAudience        = sentinel(StatusWrongAudience)
	ErrWrongIssuer          = sentinel(StatusWrongIssuer)
	ErrWrongTyp             = sentinel(StatusWrongTyp)
	ErrMissingClaim         = sentinel(StatusMissingClaim)
	ErrUnsupportedCritical  = sentinel(StatusUnsupportedCritical)
	ErrResponseTooLarge     = sentinel(StatusResponseTooLarge)
	ErrRedirect             = sentinel(StatusRedirect)
	ErrTokenTooLarge        = sentinel(StatusTokenTooLarge)
	ErrIssuerNotAllowed     = sentinel(StatusIssuerNotAllowed)
	ErrDiscovery            = sentinel(StatusDiscovery)
	ErrForked               = sentinel(StatusForked)
	ErrCancelled            = sentinel(StatusCancelled)
	ErrInternal             = sentinel(StatusInternal)
)

// ErrClosed is returned by calls on a closed Client. It is its own error, not a status: no
// libjwks error is ErrClosed, and ErrClosed is no libjwks status.
var ErrClosed = errors.New("jwks: client is closed")

// takeError copies and frees a C error.
func takeError(st C.jwks_status, e *C.jwks_error) error {
	err := &Error{Status: Status(st)}
	if e != nil {
		err.Message = C.GoString(C.jwks_error_message(e))
		C.jwks_error_free(e)
	}
	return err
}

// call runs a C call that reports failures through an error object, keeping its message.
func call(f func(e **C.jwks_error) C.jwks_status) error {
	var e *C.jwks_error
	if st := f(&e); st != C.JWKS_OK {
		return takeError(st, e)
	}
	return nil
}
