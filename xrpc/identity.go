package xrpc

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/syntax"
)

func init() { registrations = append(registrations, registerIdentity) }

// registerIdentity registers com.atproto.identity.* and
// /.well-known/atproto-did.
func registerIdentity(s *Server) error {
	s.Query("com.atproto.identity.resolveHandle", s.resolveHandle)
	s.Procedure("com.atproto.identity.updateHandle", s.updateHandle)
	s.HandleFunc("GET /.well-known/atproto-did", s.wellKnownDID)
	return nil
}

// localHandle reports whether h is one of Options.HandleDomains or under
// one (a domain written ".pds.example" or "pds.example"): the handles this
// server vouches for without DNS. With no HandleDomains, none is.
func (s *Server) localHandle(h syntax.Handle) bool {
	name := h.Normalize().String()
	for _, d := range s.opts.HandleDomains {
		d = strings.ToLower(strings.TrimPrefix(d, "."))
		if d != "" && (name == d || strings.HasSuffix(name, "."+d)) {
			return true
		}
	}
	return false
}

// localRepoByHandle returns the active local repo whose handle is h.
func (s *Server) localRepoByHandle(r *http.Request, h syntax.Handle) (*atlite.Repo, bool, error) {
	repo, err := s.store.LoadRepo(r.Context(), h.AtIdentifier())
	if errors.Is(err, atlite.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if !repo.Active() && repo.Status != atlite.StatusDeactivated {
		return nil, false, nil
	}
	return repo, true, nil
}

func (s *Server) resolveHandle(w http.ResponseWriter, r *http.Request) error {
	p := ParamsOf(r)
	hv := p.String("handle", true)
	if err := p.Err(); err != nil {
		return err
	}
	h, err := syntax.ParseHandle(hv)
	if err != nil {
		return InvalidRequest("Error: handle must be a valid handle (%q)", hv)
	}
	repo, ok, err := s.localRepoByHandle(r, h)
	if err != nil {
		return err
	}
	if !ok {
		return Errorf(http.StatusBadRequest, "HandleNotFound", "Unable to resolve handle")
	}
	return WriteJSON(w, map[string]any{"did": repo.DID})
}

func (s *Server) updateHandle(w http.ResponseWriter, r *http.Request) error {
	a, err := s.auth(r)
	if err != nil {
		return err
	}
	var body struct {
		Handle *string `json:"handle"`
	}
	if err := DecodeJSON(r, s.opts.MaxBodySize, &body); err != nil {
		return err
	}
	if body.Handle == nil {
		return InvalidRequest(`Input must have the property "handle"`)
	}
	h, err := syntax.ParseHandle(*body.Handle)
	if err != nil {
		return Errorf(http.StatusBadRequest, "InvalidHandle", "Input/handle must be a valid handle")
	}
	h = h.Normalize()
	if !s.localHandle(h) {
		// TODO(lead): handles outside HandleDomains need a DNS or
		// /.well-known check before they are taken.
		return Errorf(http.StatusBadRequest, "UnsupportedDomain", "Not a supported handle domain")
	}
	if err := s.store.UpdateHandle(r.Context(), a.DID, h); err != nil {
		if errors.Is(err, atlite.ErrHandleTaken) {
			return Errorf(http.StatusBadRequest, "HandleNotAvailable", "Handle already taken: %s", h)
		}
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// wellKnownDID answers /.well-known/atproto-did for a Host that is a local
// handle: the DID as text/plain, 404 otherwise.
func (s *Server) wellKnownDID(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	notFound := func() {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "User not found\n")
	}
	h, err := syntax.ParseHandle(host)
	if err != nil {
		notFound()
		return
	}
	repo, ok, err := s.localRepoByHandle(r, h)
	if err != nil {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, "Internal Server Error\n")
		return
	}
	if !ok {
		notFound()
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, repo.DID.String())
}
