package xrpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/atlite-dev/atlite"
)

// Error is an XRPC error answer: an HTTP status and the JSON body
// {"error": Name, "message": Message}.
type Error struct {
	Status  int
	Name    string
	Message string
	// Header holds extra response headers (WWW-Authenticate, Retry-After).
	Header http.Header
}

// Error implements error.
func (e *Error) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, e.Name, e.Message)
}

// Errorf returns an *Error with the given status and name.
func Errorf(status int, name, format string, args ...any) *Error {
	return &Error{Status: status, Name: name, Message: fmt.Sprintf(format, args...)}
}

// InvalidRequest is the 400 error for bad input.
func InvalidRequest(format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, "InvalidRequest", format, args...)
}

// ErrorFor maps an error from the Store (or anything else) to the XRPC
// error a client should see. Errors that are already *Error pass as they
// are; errors it does not know become 500 InternalServerError with a
// generic message (the details go to the log, not to the client).
func ErrorFor(err error) *Error {
	var xe *Error
	if errors.As(err, &xe) {
		return xe
	}
	var inactive *atlite.InactiveRepoError
	switch {
	case errors.As(err, &inactive):
		name := "RepoDeactivated"
		switch inactive.Status {
		case atlite.StatusTakendown:
			name = "RepoTakendown"
		case atlite.StatusSuspended:
			name = "RepoSuspended"
		case atlite.StatusDeleted, atlite.StatusTombstoned:
			name = "RepoNotFound"
		}
		return Errorf(http.StatusBadRequest, name, "%s", err.Error())
	case errors.Is(err, atlite.ErrSwapMismatch):
		return Errorf(http.StatusBadRequest, "InvalidSwap", "%s", err.Error())
	case errors.Is(err, atlite.ErrInvalidWrite), errors.Is(err, atlite.ErrInvalidCAR):
		return InvalidRequest("%s", err.Error())
	case errors.Is(err, atlite.ErrHandleTaken):
		return Errorf(http.StatusBadRequest, "HandleNotAvailable", "%s", err.Error())
	case errors.Is(err, atlite.ErrReadOnlyRepo):
		return Errorf(http.StatusBadRequest, "InvalidRequest", "%s", err.Error())
	case errors.Is(err, atlite.ErrBadCredentials):
		return Errorf(http.StatusUnauthorized, "AuthenticationRequired", "Invalid identifier or password")
	case errors.Is(err, atlite.ErrExpiredToken):
		return Errorf(http.StatusUnauthorized, "ExpiredToken", "Token has expired")
	case errors.Is(err, atlite.ErrInvalidToken):
		return Errorf(http.StatusUnauthorized, "InvalidToken", "Token is invalid")
	case errors.Is(err, atlite.ErrCorrupt):
		// Damage is the host's fault, whatever else the error wraps.
		return Errorf(http.StatusInternalServerError, "InternalServerError", "Internal Server Error")
	case errors.Is(err, atlite.ErrRepoNotFound):
		return Errorf(http.StatusBadRequest, "RepoNotFound", "%s", err.Error())
	case errors.Is(err, atlite.ErrRecordNotFound):
		return Errorf(http.StatusBadRequest, "RecordNotFound", "%s", err.Error())
	case errors.Is(err, atlite.ErrNotFound):
		// Something else is missing (a block, an event, a blob...).
		return Errorf(http.StatusBadRequest, "NotFound", "%s", err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return Errorf(http.StatusServiceUnavailable, "RequestCancelled", "the request was cancelled")
	}
	return Errorf(http.StatusInternalServerError, "InternalServerError", "Internal Server Error")
}

// writeError writes e as an XRPC error answer.
func writeError(w http.ResponseWriter, e *Error) {
	for k, vs := range e.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(e.Status)
	json.NewEncoder(w).Encode(map[string]string{"error": e.Name, "message": e.Message})
}
