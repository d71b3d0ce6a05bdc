package did

import (
	"fmt"
	"sort"

	"github.com/atlite-dev/atlite/datamodel"
)

// ParseOperation parses the JSON form of a PLC operation, as the directory
// serves and accepts it.
//
// Parsing is strict, like the directory's own schemas (which are declared
// strict for regular and tombstone operations): the JSON must be valid
// atproto JSON (no duplicate keys, no floats), "type" selects the schema, every
// required field must be present with its JSON type ("prev" included, as null
// for a genesis operation), and unknown fields are rejected. Services must be
// objects with exactly "type" and "endpoint". "sig" may be absent, giving an
// unsigned operation. Parsing does not check signatures or the limits of
// [Operation.Validate]. Errors wrap [ErrInvalidOperation].
func ParseOperation(b []byte) (*Operation, error) {
	v, err := datamodel.FromJSON(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOperation, err)
	}
	return fromDataModel(v)
}

// ParseOperationCBOR parses the DAG-CBOR form of a PLC operation (the bytes
// [Operation.Bytes] or [Operation.UnsignedBytes] return) with the same rules
// as [ParseOperation]. The DAG-CBOR must be canonical, so a parsed operation
// encodes back to exactly b.
func ParseOperationCBOR(b []byte) (*Operation, error) {
	v, err := datamodel.Unmarshal(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOperation, err)
	}
	return fromDataModel(v)
}

// MarshalJSON encodes op as the directory's JSON, with keys in sorted order
// and "sig" only when the operation is signed.
func (op *Operation) MarshalJSON() ([]byte, error) {
	m, err := op.dataModel(op.Sig != "")
	if err != nil {
		return nil, err
	}
	b, err := datamodel.ToJSON(m)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOperation, err)
	}
	return b, nil
}

// UnmarshalJSON parses b with [ParseOperation] into op.
func (op *Operation) UnmarshalJSON(b []byte) error {
	p, err := ParseOperation(b)
	if err != nil {
		return err
	}
	*op = *p
	return nil
}

// fields lists, per operation type, the required fields and whether each
// may be absent.
var opFields = map[string]map[string]bool{
	TypeOperation: {"type": true, "rotationKeys": true, "verificationMethods": true, "alsoKnownAs": true, "services": true, "prev": true, "sig": false},
	TypeTombstone: {"type": true, "prev": true, "sig": false},
	TypeCreate:    {"type": true, "signingKey": true, "recoveryKey": true, "handle": true, "service": true, "prev": true, "sig": false},
}

func fromDataModel(v any) (*Operation, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: not an object", ErrInvalidOperation)
	}
	typ, ok := m["type"].(string)
	if !ok {
		return nil, fmt.Errorf("%w: missing or non-string type", ErrInvalidOperation)
	}
	fields, ok := opFields[typ]
	if !ok {
		return nil, fmt.Errorf("%w: unknown type %q", ErrInvalidOperation, typ)
	}
	for k := range m {
		if _, ok := fields[k]; !ok {
			return nil, fmt.Errorf("%w: unknown field %q in %s", ErrInvalidOperation, k, typ)
		}
	}
	for k, required := range fields {
		if _, ok := m[k]; required && !ok {
			return nil, fmt.Errorf("%w: missing field %q in %s", ErrInvalidOperation, k, typ)
		}
	}
	op := &Operation{Type: typ}
	var err error
	if s, ok := m["sig"]; ok {
		if op.Sig, err = str(s, "sig"); err != nil {
			return nil, err
		}
		if op.Sig == "" {
			return nil, fmt.Errorf("%w: empty sig", ErrInvalidOperation)
		}
	}
	switch p := m["prev"].(type) {
	case nil:
	case string:
		op.Prev = &p
	default:
		return nil, fmt.Errorf("%w: prev must be a string or null", ErrInvalidOperation)
	}
	switch typ {
	case TypeOperation:
		if op.RotationKeys, err = strList(m["rotationKeys"], "rotationKeys"); err != nil {
			return nil, err
		}
		if op.AlsoKnownAs, err = strList(m["alsoKnownAs"], "alsoKnownAs"); err != nil {
			return nil, err
		}
		vm, ok := m["verificationMethods"].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: verificationMethods must be an object", ErrInvalidOperation)
		}
		op.VerificationMethods = make(map[string]string, len(vm))
		for k, v := range vm {
			if op.VerificationMethods[k], err = str(v, "verificationMethods."+k); err != nil {
				return nil, err
			}
		}
		svc, ok := m["services"].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: services must be an object", ErrInvalidOperation)
		}
		op.Services = make(map[string]Service, len(svc))
		for k, v := range svc {
			s, err := parseService(k, v)
			if err != nil {
				return nil, err
			}
			op.Services[k] = s
		}
	case TypeTombstone:
		if op.Prev == nil {
			return nil, fmt.Errorf("%w: tombstone prev must not be null", ErrInvalidOperation)
		}
	case TypeCreate:
		if op.Prev != nil {
			return nil, fmt.Errorf("%w: legacy create prev must be null", ErrInvalidOperation)
		}
		l := &LegacyCreate{}
		for _, f := range []struct {
			name string
			dst  *string
		}{{"signingKey", &l.SigningKey}, {"recoveryKey", &l.RecoveryKey}, {"handle", &l.Handle}, {"service", &l.Service}} {
			if *f.dst, err = str(m[f.name], f.name); err != nil {
				return nil, err
			}
		}
		op.Legacy = l
	}
	return op, nil
}

func parseService(id string, v any) (Service, error) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 2 {
		return Service{}, fmt.Errorf("%w: services.%s must be an object with type and endpoint", ErrInvalidOperation, id)
	}
	t, err := str(m["type"], "services."+id+".type")
	if err != nil {
		return Service{}, err
	}
	e, err := str(m["endpoint"], "services."+id+".endpoint")
	if err != nil {
		return Service{}, err
	}
	return Service{Type: t, Endpoint: e}, nil
}

func str(v any, name string) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%w: %s must be a string", ErrInvalidOperation, name)
	}
	return s, nil
}

func strList(v any, name string) ([]string, error) {
	l, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%w: %s must be an array", ErrInvalidOperation, name)
	}
	out := make([]string, len(l))
	for i, e := range l {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("%w: %s[%d] must be a string", ErrInvalidOperation, name, i)
		}
		out[i] = s
	}
	return out, nil
}

// sortedKeys returns the keys of m in DAG-CBOR order (shorter first, then
// bytewise), the order in which documents list verification methods and
// services.
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool {
		if len(ks[i]) != len(ks[j]) {
			return len(ks[i]) < len(ks[j])
		}
		return ks[i] < ks[j]
	})
	return ks
}
