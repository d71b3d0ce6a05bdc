package xrpc

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/did"
	"github.com/atlite-dev/atlite/servicejwt"
	"github.com/atlite-dev/atlite/syntax"
)

func init() { registrations = append(registrations, registerServer) }

// registerServer registers com.atproto.server.*.
func registerServer(s *Server) error {
	s.sessionLimit = newLimiter(CreateSessionLimit, CreateSessionWindow)
	s.Query("com.atproto.server.describeServer", s.describeServer)
	s.Procedure("com.atproto.server.createSession", s.createSession)
	s.Query("com.atproto.server.getSession", s.getSession)
	s.Procedure("com.atproto.server.refreshSession", s.refreshSession)
	s.Procedure("com.atproto.server.deleteSession", s.deleteSession)
	s.Procedure("com.atproto.server.createAccount", s.createAccount)
	s.Procedure("com.atproto.server.createAppPassword", s.createAppPassword)
	s.Query("com.atproto.server.listAppPasswords", s.listAppPasswords)
	s.Procedure("com.atproto.server.revokeAppPassword", s.revokeAppPassword)
	s.Query("com.atproto.server.checkAccountStatus", s.checkAccountStatus)
	s.Procedure("com.atproto.server.activateAccount", s.activateAccount)
	s.Procedure("com.atproto.server.deactivateAccount", s.deactivateAccount)
	s.Query("com.atproto.server.getServiceAuth", s.getServiceAuth)
	return nil
}

// handleOrInvalid is the handle a session answer shows: the repo's, or
// "handle.invalid" when it has none (the lexicon requires one).
func handleOrInvalid(r *atlite.Repo) string {
	if r.Handle == "" {
		return "handle.invalid"
	}
	return r.Handle.String()
}

// didDoc is the DID document of a local repo as this server publishes it:
// its signing key, its handle and this PDS.
func (s *Server) didDoc(r *atlite.Repo) *did.Document {
	st := &did.State{DID: r.DID, VerificationMethods: map[string]string{}, AlsoKnownAs: []string{},
		Services: map[string]did.Service{"atproto_pds": {Type: "AtprotoPersonalDataServer", Endpoint: s.opts.PublicURL}}}
	if r.SigningKey != nil {
		st.VerificationMethods["atproto"] = r.SigningKey.DIDKey()
	}
	if r.Handle != "" {
		st.AlsoKnownAs = []string{"at://" + r.Handle.String()}
	}
	return st.Document()
}

// repoByID loads the repo id: 400 RepoNotFound when there is none.
func (s *Server) repoByID(ctx context.Context, id syntax.AtIdentifier) (*atlite.Repo, error) {
	repo, err := s.store.LoadRepo(ctx, id)
	if errors.Is(err, atlite.ErrNotFound) {
		return nil, repoNotFound(id)
	}
	return repo, err
}

// repoNotFound is the answer for a repo id that names no repo.
func repoNotFound(id syntax.AtIdentifier) *Error {
	return Errorf(http.StatusBadRequest, "RepoNotFound", "Could not find repo: %s", id)
}

// sessionOutput is the answer of createSession, refreshSession and
// getSession (the last without tokens).
type sessionOutput struct {
	AccessJwt      string        `json:"accessJwt,omitempty"`
	RefreshJwt     string        `json:"refreshJwt,omitempty"`
	Handle         string        `json:"handle"`
	DID            syntax.DID    `json:"did"`
	DIDDoc         *did.Document `json:"didDoc,omitempty"`
	Email          string        `json:"email,omitempty"`
	EmailConfirmed *bool         `json:"emailConfirmed,omitempty"`
	Active         bool          `json:"active"`
	Status         string        `json:"status,omitempty"`
}

// sessionAnswer builds a session answer for the account d; email is shown
// to full-access sessions only.
func (s *Server) sessionAnswer(ctx context.Context, d syntax.DID, appPassword bool, t tokens) (*sessionOutput, error) {
	acct, err := s.store.LoadAccount(ctx, d.String())
	if err != nil {
		return nil, err
	}
	r := acct.Repo
	out := &sessionOutput{AccessJwt: t.access, RefreshJwt: t.refresh, Handle: handleOrInvalid(r), DID: r.DID,
		DIDDoc: s.didDoc(r), Active: r.Active(), Status: r.Status}
	if !appPassword && acct.Email != "" {
		f := false
		out.Email, out.EmailConfirmed = acct.Email, &f
	}
	return out, nil
}

func (s *Server) describeServer(w http.ResponseWriter, r *http.Request) error {
	domains := s.opts.HandleDomains
	if domains == nil {
		domains = []string{}
	}
	return WriteJSON(w, map[string]any{
		"did":                  s.serviceDID(),
		"availableUserDomains": domains,
		"inviteCodeRequired":   true,
	})
}

func (s *Server) createSession(w http.ResponseWriter, r *http.Request) error {
	if err := s.rateLimit(s.sessionLimit, r); err != nil {
		return err
	}
	var in struct {
		Identifier     *string `json:"identifier"`
		Password       *string `json:"password"`
		AuthFactor     string  `json:"authFactorToken"`
		AllowTakendown bool    `json:"allowTakendown"`
	}
	if err := DecodeJSON(r, s.opts.MaxBodySize, &in); err != nil {
		return err
	}
	if in.Identifier == nil {
		return InvalidRequest(`Input must have the property "identifier"`)
	}
	if in.Password == nil {
		return InvalidRequest(`Input must have the property "password"`)
	}
	acct, err := s.store.CheckPassword(r.Context(), *in.Identifier, *in.Password)
	var inactive *atlite.InactiveRepoError
	switch {
	case errors.Is(err, atlite.ErrBadCredentials):
		return Errorf(http.StatusUnauthorized, "AuthenticationRequired", "Invalid identifier or password")
	case errors.As(err, &inactive):
		switch inactive.Status {
		case atlite.StatusDeactivated:
			// A deactivated account may sign in, to reactivate itself.
		case atlite.StatusTakendown, atlite.StatusSuspended:
			if !in.AllowTakendown {
				return Errorf(http.StatusUnauthorized, "AccountTakedown", "Account has been taken down")
			}
		default:
			return Errorf(http.StatusUnauthorized, "AuthenticationRequired", "Invalid identifier or password")
		}
	case err != nil:
		return err
	}
	refresh, sess, err := s.store.CreateSession(r.Context(), acct.DID(), acct.AppPassword, 0)
	if err != nil {
		return err
	}
	return s.writeSession(w, r, sess, refresh)
}

// writeSession answers a new or refreshed session: its access and refresh
// tokens, and the account.
func (s *Server) writeSession(w http.ResponseWriter, r *http.Request, sess *atlite.Session, refresh string) error {
	t, err := s.issue(r.Context(), sess, refresh)
	if err != nil {
		return err
	}
	out, err := s.sessionAnswer(r.Context(), sess.DID, sess.AppPassword != "", t)
	if err != nil {
		return err
	}
	return WriteJSON(w, out)
}

func (s *Server) getSession(w http.ResponseWriter, r *http.Request) error {
	a, err := s.auth(r)
	if err != nil {
		return err
	}
	out, err := s.sessionAnswer(r.Context(), a.DID, a.AppPassword, tokens{})
	if err != nil {
		return err
	}
	return WriteJSON(w, out)
}

func (s *Server) refreshSession(w http.ResponseWriter, r *http.Request) error {
	old, err := s.refreshAuth(r)
	if err != nil {
		return err
	}
	refresh, sess, err := s.store.RefreshSession(r.Context(), old)
	var inactive *atlite.InactiveRepoError
	switch {
	case errors.Is(err, atlite.ErrExpiredToken):
		return authError("ExpiredToken", "Token has expired")
	case errors.Is(err, atlite.ErrInvalidToken):
		return authError("InvalidToken", "Token has been revoked")
	case errors.As(err, &inactive):
		return Errorf(http.StatusUnauthorized, "AccountTakedown", "Account has been taken down")
	case err != nil:
		return err
	}
	return s.writeSession(w, r, sess, refresh)
}

func (s *Server) deleteSession(w http.ResponseWriter, r *http.Request) error {
	old, err := s.refreshAuth(r)
	if err != nil {
		return err
	}
	if err := s.store.RevokeSession(r.Context(), old); err != nil {
		if errors.Is(err, atlite.ErrInvalidToken) {
			return authError("InvalidToken", "Token could not be verified")
		}
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) createAccount(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Email      string  `json:"email"`
		Handle     *string `json:"handle"`
		DID        string  `json:"did"`
		InviteCode string  `json:"inviteCode"`
		Password   string  `json:"password"`
		PLCOp      any     `json:"plcOp"`
	}
	if err := DecodeJSON(r, s.opts.MaxBodySize, &in); err != nil {
		return err
	}
	if in.Handle == nil {
		return InvalidRequest(`Input must have the property "handle"`)
	}
	code := s.opts.InviteCode
	if code == "" || subtle.ConstantTimeCompare([]byte(in.InviteCode), []byte(code)) != 1 {
		return Errorf(http.StatusBadRequest, "InvalidInviteCode", "Provided invite code not available")
	}
	if in.DID != "" || in.PLCOp != nil {
		return InvalidRequest("bringing an existing DID (did, plcOp) is not supported: use importRepo")
	}
	h, err := syntax.ParseHandle(*in.Handle)
	if err != nil {
		return Errorf(http.StatusBadRequest, "InvalidHandle", "Input/handle must be a valid handle")
	}
	h = h.Normalize()
	if !s.localHandle(h) {
		return Errorf(http.StatusBadRequest, "UnsupportedDomain", "Not a supported handle domain")
	}
	if in.Password == "" {
		return Errorf(http.StatusBadRequest, "InvalidPassword", "A password is required")
	}
	acct, err := s.store.CreateAccount(r.Context(), &atlite.CreateAccountOptions{
		Handle: h, Password: in.Password, Email: in.Email, PDSEndpoint: s.opts.PublicURL,
	})
	switch {
	case errors.Is(err, atlite.ErrHandleTaken):
		return Errorf(http.StatusBadRequest, "HandleNotAvailable", "Handle already taken: %s", h)
	case errors.Is(err, atlite.ErrPasswordTooShort):
		return Errorf(http.StatusBadRequest, "InvalidPassword", "Password must be at least %d bytes", atlite.MinPasswordLength)
	case errors.Is(err, atlite.ErrEmailTaken):
		return InvalidRequest("This email address is already in use, please use a different one.")
	case errors.Is(err, atlite.ErrInvalidEmail):
		return InvalidRequest("This email address is not valid.")
	case err != nil:
		return err
	}
	refresh, sess, err := s.store.CreateSession(r.Context(), acct.DID(), "", 0)
	if err != nil {
		return err
	}
	t, err := s.issue(r.Context(), sess, refresh)
	if err != nil {
		return err
	}
	return WriteJSON(w, map[string]any{
		"accessJwt": t.access, "refreshJwt": t.refresh,
		"handle": handleOrInvalid(acct.Repo), "did": acct.DID(), "didDoc": s.didDoc(acct.Repo),
	})
}

// appPasswordOutput is an app password as the lexicon describes it.
type appPasswordOutput struct {
	Name       string `json:"name"`
	Password   string `json:"password,omitempty"`
	CreatedAt  string `json:"createdAt"`
	Privileged bool   `json:"privileged"`
}

func lexDatetime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func (s *Server) createAppPassword(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authFull(r)
	if err != nil {
		return err
	}
	var in struct {
		Name       *string `json:"name"`
		Privileged bool    `json:"privileged"`
	}
	if err := DecodeJSON(r, s.opts.MaxBodySize, &in); err != nil {
		return err
	}
	if in.Name == nil {
		return InvalidRequest(`Input must have the property "name"`)
	}
	if *in.Name == "" || len(*in.Name) > atlite.MaxAppPasswordNameLength {
		return InvalidRequest("Input/name must be 1 to %d bytes", atlite.MaxAppPasswordNameLength)
	}
	pw, ap, err := s.store.CreateAppPassword(r.Context(), a.DID, *in.Name, in.Privileged)
	if errors.Is(err, atlite.ErrExists) {
		return InvalidRequest("A user already has an app password with this name: %s", *in.Name)
	}
	if err != nil {
		return err
	}
	return WriteJSON(w, appPasswordOutput{Name: ap.Name, Password: pw, CreatedAt: lexDatetime(ap.Created), Privileged: ap.Privileged})
}

func (s *Server) listAppPasswords(w http.ResponseWriter, r *http.Request) error {
	a, err := s.auth(r)
	if err != nil {
		return err
	}
	aps, err := s.store.ListAppPasswords(r.Context(), a.DID)
	if err != nil {
		return err
	}
	out := make([]appPasswordOutput, 0, len(aps))
	for _, ap := range aps {
		out = append(out, appPasswordOutput{Name: ap.Name, CreatedAt: lexDatetime(ap.Created), Privileged: ap.Privileged})
	}
	return WriteJSON(w, map[string]any{"passwords": out})
}

func (s *Server) revokeAppPassword(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authFull(r)
	if err != nil {
		return err
	}
	var in struct {
		Name *string `json:"name"`
	}
	if err := DecodeJSON(r, s.opts.MaxBodySize, &in); err != nil {
		return err
	}
	if in.Name == nil {
		return InvalidRequest(`Input must have the property "name"`)
	}
	// Revoking a name that does not exist is not an error, as in the
	// reference PDS.
	if err := s.store.RevokeAppPassword(r.Context(), a.DID, *in.Name); err != nil && !errors.Is(err, atlite.ErrNotFound) {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) checkAccountStatus(w http.ResponseWriter, r *http.Request) error {
	a, err := s.auth(r)
	if err != nil {
		return err
	}
	repo, err := s.repoByID(r.Context(), a.DID.AtIdentifier())
	if err != nil {
		return err
	}
	st, err := s.repoStats(r.Context(), repo)
	if err != nil {
		return err
	}
	return WriteJSON(w, map[string]any{
		"activated":          repo.Active(),
		"validDid":           true,
		"repoCommit":         repo.Head.String(),
		"repoRev":            repo.Rev.String(),
		"repoBlocks":         st.blocks,
		"indexedRecords":     st.records,
		"privateStateValues": 0,
		"expectedBlobs":      st.expectedBlobs,
		"importedBlobs":      st.importedBlobs,
	})
}

func (s *Server) activateAccount(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authFull(r)
	if err != nil {
		return err
	}
	repo, err := s.repoByID(r.Context(), a.DID.AtIdentifier())
	if err != nil {
		return err
	}
	if repo.Status == atlite.StatusDeactivated {
		if err := s.store.Activate(r.Context(), a.DID); err != nil {
			return err
		}
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) deactivateAccount(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authFull(r)
	if err != nil {
		return err
	}
	var in struct {
		DeleteAfter string `json:"deleteAfter"`
	}
	if r.ContentLength != 0 {
		if err := DecodeJSON(r, s.opts.MaxBodySize, &in); err != nil {
			return err
		}
	}
	if in.DeleteAfter != "" {
		if _, err := syntax.ParseDatetime(in.DeleteAfter); err != nil {
			return InvalidRequest("Input/deleteAfter must be a valid datetime")
		}
	}
	repo, err := s.repoByID(r.Context(), a.DID.AtIdentifier())
	if err != nil {
		return err
	}
	if repo.Active() {
		if err := s.store.Deactivate(r.Context(), a.DID); err != nil {
			return err
		}
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// protectedMethods are the methods no service token may be bound to (the
// account's own management), as in the reference PDS.
var protectedMethods = map[string]bool{
	"com.atproto.admin.sendEmail":                       true,
	"com.atproto.identity.requestPlcOperationSignature": true,
	"com.atproto.identity.signPlcOperation":             true,
	"com.atproto.identity.updateHandle":                 true,
	"com.atproto.server.activateAccount":                true,
	"com.atproto.server.confirmEmail":                   true,
	"com.atproto.server.createAppPassword":              true,
	"com.atproto.server.deactivateAccount":              true,
	"com.atproto.server.getAccountInviteCodes":          true,
	"com.atproto.server.getSession":                     true,
	"com.atproto.server.listAppPasswords":               true,
	"com.atproto.server.requestAccountDelete":           true,
	"com.atproto.server.requestEmailConfirmation":       true,
	"com.atproto.server.requestEmailUpdate":             true,
	"com.atproto.server.revokeAppPassword":              true,
	"com.atproto.server.updateEmail":                    true,
}

// Service token lifetimes: the default, and the longest a client may ask
// for with and without a bound method.
const (
	serviceTokenTTL         = time.Minute
	maxServiceTokenTTL      = time.Hour
	maxUnboundServiceTokTTL = time.Minute
)

func (s *Server) getServiceAuth(w http.ResponseWriter, r *http.Request) error {
	a, err := s.auth(r)
	if err != nil {
		return err
	}
	p := ParamsOf(r)
	aud := p.String("aud", true)
	exp := p.Int("exp", 0, 0, 1<<53)
	lxm := p.NSID("lxm", false)
	if err := p.Err(); err != nil {
		return err
	}
	audDID, _, _ := strings.Cut(aud, "#")
	if _, err := syntax.ParseDID(audDID); err != nil || len(aud) > 2048 {
		return InvalidRequest("Error: aud must be a DID or a did#serviceId reference (%q)", aud)
	}
	now := s.opts.Now()
	ttl := serviceTokenTTL
	if exp != 0 {
		ttl = time.Unix(exp, 0).Sub(now)
		if ttl <= 0 {
			return Errorf(http.StatusBadRequest, "BadExpiration", "expiration is in past")
		}
		if ttl > maxServiceTokenTTL {
			return Errorf(http.StatusBadRequest, "BadExpiration", "cannot request a token with an expiration more than an hour in the future")
		}
		if lxm == "" && ttl > maxUnboundServiceTokTTL {
			return Errorf(http.StatusBadRequest, "BadExpiration", "cannot request a method-less token that expires more than a minute in the future")
		}
	}
	if protectedMethods[lxm.String()] {
		return InvalidRequest("cannot request a service auth token for the following protected method: %s", lxm)
	}
	if a.AppPassword && !a.Privileged && strings.HasPrefix(lxm.String(), "chat.bsky.") {
		return InvalidRequest("insufficient access to request a service auth token for the following method: %s", lxm)
	}
	tok, err := s.store.CreateServiceAuth(r.Context(), a.DID, servicejwt.Params{Audience: aud, LexiconMethod: lxm, TTL: ttl, Now: now})
	if err != nil {
		return err
	}
	return WriteJSON(w, map[string]string{"token": tok})
}
