package xrpc

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/syntax"
)

// Params reads a query's parameters, checking each by its lexicon format.
// The first problem is kept (Err) and later reads are no-ops, so a handler
// reads them all and checks once.
type Params struct {
	r   *http.Request
	q   url.Values // the parsed query, on the first read
	err *Error
}

// ParamsOf returns the parameters of r.
func ParamsOf(r *http.Request) *Params { return &Params{r: r} }

// query parses the request's query once: URL.Query parses it anew each
// call.
func (p *Params) query() url.Values {
	if p.q == nil {
		p.q = p.r.URL.Query()
	}
	return p.q
}

// Err returns the first problem met, as 400 InvalidRequest naming the
// parameter, or nil.
func (p *Params) Err() error {
	if p.err == nil {
		return nil
	}
	return p.err
}

func (p *Params) get(name string, required bool) (string, bool) {
	if p.err != nil {
		return "", false
	}
	v := p.query().Get(name)
	if v == "" {
		if required {
			p.err = InvalidRequest("Error: Params must have the property %q", name)
		}
		return "", false
	}
	return v, true
}

func (p *Params) fail(name, v string, err error) {
	p.err = InvalidRequest("Error: %s must be a valid value (%q: %v)", name, v, err)
}

// String returns the parameter as it is.
func (p *Params) String(name string, required bool) string {
	v, _ := p.get(name, required)
	return v
}

// DID returns a did-format parameter.
func (p *Params) DID(name string, required bool) syntax.DID {
	v, ok := p.get(name, required)
	if !ok {
		return ""
	}
	d, err := syntax.ParseDID(v)
	if err != nil {
		p.fail(name, v, err)
	}
	return d
}

// AtIdentifier returns an at-identifier-format parameter (DID or handle).
func (p *Params) AtIdentifier(name string, required bool) syntax.AtIdentifier {
	v, ok := p.get(name, required)
	if !ok {
		return ""
	}
	a, err := syntax.ParseAtIdentifier(v)
	if err != nil {
		p.fail(name, v, err)
	}
	return a
}

// NSID returns an nsid-format parameter.
func (p *Params) NSID(name string, required bool) syntax.NSID {
	v, ok := p.get(name, required)
	if !ok {
		return ""
	}
	n, err := syntax.ParseNSID(v)
	if err != nil {
		p.fail(name, v, err)
	}
	return n
}

// RecordKey returns a record-key-format parameter.
func (p *Params) RecordKey(name string, required bool) syntax.RecordKey {
	v, ok := p.get(name, required)
	if !ok {
		return ""
	}
	k, err := syntax.ParseRecordKey(v)
	if err != nil {
		p.fail(name, v, err)
	}
	return k
}

// TID returns a tid-format parameter.
func (p *Params) TID(name string, required bool) syntax.TID {
	v, ok := p.get(name, required)
	if !ok {
		return ""
	}
	t, err := syntax.ParseTID(v)
	if err != nil {
		p.fail(name, v, err)
	}
	return t
}

// CID returns a cid-format parameter.
func (p *Params) CID(name string, required bool) cid.Cid {
	v, ok := p.get(name, required)
	if !ok {
		return cid.Undef
	}
	c, err := datamodel.ParseCID(v)
	if err != nil {
		p.fail(name, v, err)
	}
	return c
}

// CIDs returns a repeated cid-format parameter (name=a&name=b).
func (p *Params) CIDs(name string, required bool) []cid.Cid {
	if p.err != nil {
		return nil
	}
	vs := p.query()[name]
	if len(vs) == 0 && required {
		p.err = InvalidRequest("Error: Params must have the property %q", name)
		return nil
	}
	out := make([]cid.Cid, 0, len(vs))
	for _, v := range vs {
		c, err := datamodel.ParseCID(v)
		if err != nil {
			p.fail(name, v, err)
			return nil
		}
		out = append(out, c)
	}
	return out
}

// Int returns an integer parameter in [min, max], def when absent.
func (p *Params) Int(name string, def, min, max int64) int64 {
	v, ok := p.get(name, false)
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		p.fail(name, v, err)
		return def
	}
	if n < min || n > max {
		p.err = InvalidRequest("Error: %s must be between %d and %d, not %d", name, min, max, n)
		return def
	}
	return n
}

// Bool returns a boolean parameter ("true" or "false"), def when absent.
func (p *Params) Bool(name string, def bool) bool {
	v, ok := p.get(name, false)
	if !ok {
		return def
	}
	switch v {
	case "true":
		return true
	case "false":
		return false
	}
	p.err = InvalidRequest("Error: %s must be a boolean, not %q", name, v)
	return def
}
