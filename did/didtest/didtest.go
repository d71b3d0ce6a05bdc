package didtest

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/atlite-dev/atlite/did"
	"github.com/atlite-dev/atlite/syntax"
)

// Directory is a fake PLC directory.
type Directory struct {
	srv *httptest.Server

	mu      sync.Mutex
	now     func() time.Time
	logs    map[syntax.DID]*did.History
	posts   int
	refused int
}

// NewDirectory starts a fake directory on loopback. Close it when done.
// Its clock is time.Now until [Directory.SetClock] changes it.
func NewDirectory() *Directory {
	d := &Directory{now: time.Now, logs: map[syntax.DID]*did.History{}}
	d.srv = httptest.NewServer(http.HandlerFunc(d.serve))
	return d
}

// URL returns the directory's base URL ("http://127.0.0.1:port").
func (d *Directory) URL() string { return d.srv.URL }

// Client returns an HTTP client for the directory. A [did.PLCClient] or a
// [did.Resolver] with its default client reaches the directory too:
// directory URLs are the operator's configuration and are not
// address-checked (did:web and handle hosts are).
func (d *Directory) Client() *http.Client { return d.srv.Client() }

// Close shuts the server down.
func (d *Directory) Close() { d.srv.Close() }

// SetClock sets the clock that dates accepted operations.
func (d *Directory) SetClock(now func() time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.now = now
}

// Posts returns how many operations were posted, and how many of them were
// refused.
func (d *Directory) Posts() (posted, refused int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.posts, d.refused
}

// AuditLog returns a copy of the audit log of a DID (nil if unknown).
func (d *Directory) AuditLog(id syntax.DID) []did.LogEntry {
	d.mu.Lock()
	defer d.mu.Unlock()
	if h := d.logs[id]; h != nil {
		return h.AuditLog()
	}
	return nil
}

func (d *Directory) serve(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/")
	idStr, suffix, _ := strings.Cut(path, "/")
	id, err := syntax.ParseDID(idStr)
	if err != nil || id.Method() != "plc" {
		writeError(w, http.StatusBadRequest, "invalid did")
		return
	}
	switch {
	case r.Method == http.MethodPost && suffix == "":
		d.submit(w, r, id)
	case r.Method == http.MethodGet:
		d.get(w, id, suffix)
	default:
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
	}
}

func (d *Directory) submit(w http.ResponseWriter, r *http.Request, id syntax.DID) {
	body := http.MaxBytesReader(w, r.Body, 64<<10)
	var raw json.RawMessage
	err := json.NewDecoder(body).Decode(&raw)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.posts++
	if err != nil {
		d.refused++
		writeError(w, http.StatusBadRequest, "bad body: "+err.Error())
		return
	}
	op, err := did.ParseOperation(raw)
	if err != nil {
		d.refused++
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	h := d.logs[id]
	fresh := h == nil
	if fresh {
		h = did.NewHistory(id)
	}
	if _, err := h.Append(op, d.now()); err != nil {
		d.refused++
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if fresh {
		d.logs[id] = h
	}
	w.WriteHeader(http.StatusOK)
}

func (d *Directory) get(w http.ResponseWriter, id syntax.DID, suffix string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	h := d.logs[id]
	if h == nil {
		writeError(w, http.StatusNotFound, "DID not registered: "+string(id))
		return
	}
	last, _ := h.Last()
	switch suffix {
	case "":
		doc, err := last.Operation.Document(id)
		if errors.Is(err, did.ErrDeactivated) {
			writeError(w, http.StatusGone, "DID not available: "+string(id))
			return
		} else if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		writeJSON(w, doc)
	case "data":
		s, err := last.Operation.State(id)
		if errors.Is(err, did.ErrDeactivated) {
			writeError(w, http.StatusGone, "DID not available: "+string(id))
			return
		} else if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		writeJSON(w, s)
	case "log":
		writeJSON(w, h.Operations())
	case "log/audit":
		writeJSON(w, h.AuditLog())
	case "log/last":
		writeJSON(w, last.Operation)
	default:
		writeError(w, http.StatusNotFound, "not found")
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(map[string]string{"message": msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}
