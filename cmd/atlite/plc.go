package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/did"
	"github.com/atlite-dev/atlite/syntax"
)

const plcFlagUsage = "the PLC directory `URL` (default $PLC_HOST, else https://plc.directory)"

func plcClient(url string) (*did.PLCClient, error) {
	return did.NewPLCClient(&did.PLCOptions{URL: url})
}

// plcRepo opens the store and loads a did:plc repo.
func (e *env) plcRepo(ctx context.Context, arg string) (*atlite.Store, *atlite.Repo, error) {
	id, err := parseRepoID(arg)
	if err != nil {
		return nil, nil, err
	}
	if d, ok := id.AsDID(); ok && !strings.HasPrefix(d.String(), "did:plc:") {
		return nil, nil, usagef("%s is not a did:plc", id)
	}
	s, r, err := e.openRepo(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if !strings.HasPrefix(r.DID.String(), "did:plc:") {
		s.Close()
		return nil, nil, fmt.Errorf("%s is %s, not a did:plc", id, r.DID)
	}
	return s, r, nil
}

func cmdPLCPublish(fl *flag.FlagSet, e *env) runner {
	url := fl.String("plc", "", plcFlagUsage)
	return func(ctx context.Context, pos []string) error {
		s, r, err := e.plcRepo(ctx, pos[0])
		if err != nil {
			return err
		}
		defer s.Close()
		b, err := s.PLCOperation(ctx, r.DID)
		if errors.Is(err, atlite.ErrNotFound) {
			return fmt.Errorf("%s keeps no genesis operation for %s (only \"atlite init\" without --did makes one)", e.dbName(), r.DID)
		}
		if err != nil {
			return err
		}
		op, err := did.ParseOperationCBOR(b)
		if err != nil {
			return fmt.Errorf("stored genesis operation: %v", err)
		}
		c, err := plcClient(*url)
		if err != nil {
			return err
		}
		if _, err := c.Create(ctx, op); err != nil {
			return fmt.Errorf("publish %s to %s: %v", r.DID, c.URL(), err)
		}
		if e.json {
			return writeJSON(e.stdout, map[string]string{"did": r.DID.String(), "plc": c.URL()})
		}
		_, err = fmt.Fprintf(e.stdout, "published %s to %s\n", r.DID, c.URL())
		return err
	}
}

func cmdPLCUpdate(fl *flag.FlagSet, e *env) runner {
	handle := fl.String("handle", "", "the new `HANDLE` (also set on the repo in the file once published)")
	pds := fl.String("pds", "", "the new PDS endpoint `URL`")
	url := fl.String("plc", "", plcFlagUsage)
	return func(ctx context.Context, pos []string) error {
		var u did.Update
		if *handle != "" {
			h, err := syntax.ParseHandle(strings.TrimPrefix(*handle, "@"))
			if err != nil {
				return usagef("--handle %q is not a handle: %v", *handle, err)
			}
			u.Handle = h
		}
		if *pds != "" {
			if !strings.HasPrefix(*pds, "https://") && !strings.HasPrefix(*pds, "http://") {
				return usagef("--pds %q is not an http(s) URL", *pds)
			}
			u.PDSEndpoint = *pds
		}
		if u.Handle == "" && u.PDSEndpoint == "" {
			return usagef("nothing to update: give --handle or --pds")
		}
		s, r, err := e.plcRepo(ctx, pos[0])
		if err != nil {
			return err
		}
		defer s.Close()
		rk, err := s.RotationKey(ctx, r.DID)
		if errors.Is(err, atlite.ErrNotFound) {
			return fmt.Errorf("%s keeps no rotation key for %s", e.dbName(), r.DID)
		}
		if err != nil {
			return err
		}
		c, err := plcClient(*url)
		if err != nil {
			return err
		}
		op, err := c.Update(ctx, r.DID, u, rk)
		if err != nil {
			return fmt.Errorf("update %s at %s: %v", r.DID, c.URL(), err)
		}
		if u.Handle != "" && u.Handle != r.Handle {
			if err := s.UpdateHandle(ctx, r.DID, u.Handle); err != nil {
				return fmt.Errorf("published, but setting the handle in %s: %v", e.dbName(), err)
			}
		}
		opCID, err := op.CID()
		if err != nil {
			return err
		}
		if e.json {
			return writeJSON(e.stdout, map[string]string{"did": r.DID.String(), "cid": opCID.String(), "plc": c.URL()})
		}
		_, err = fmt.Fprintf(e.stdout, "updated %s at %s: operation %s\n", r.DID, c.URL(), opCID)
		return err
	}
}

func cmdPLCHistory(fl *flag.FlagSet, e *env) runner {
	url := fl.String("plc", "", plcFlagUsage)
	return func(ctx context.Context, pos []string) error {
		d, err := parseDID(pos[0])
		if err != nil {
			return err
		}
		if !strings.HasPrefix(d.String(), "did:plc:") {
			return usagef("%s is not a did:plc", d)
		}
		c, err := plcClient(*url)
		if err != nil {
			return err
		}
		log, err := c.AuditLog(ctx, d)
		if err != nil {
			return fmt.Errorf("audit log of %s at %s: %v", d, c.URL(), err)
		}
		for _, le := range log {
			if e.json {
				if err := writeJSON(e.stdout, le); err != nil {
					return err
				}
				continue
			}
			kind := "update"
			switch {
			case le.Operation.Type == "plc_tombstone":
				kind = "tombstone"
			case le.Operation.Prev == nil:
				kind = "genesis"
			}
			if le.Nullified {
				kind += " (nullified)"
			}
			handle, pds := "-", "-"
			for _, aka := range le.Operation.AlsoKnownAs {
				if h, ok := strings.CutPrefix(aka, "at://"); ok {
					handle = h
					break
				}
			}
			if svc, ok := le.Operation.Services["atproto_pds"]; ok {
				pds = svc.Endpoint
			}
			fmt.Fprintf(e.stdout, "%s\t%s\t%s\thandle %s\tpds %s\n", le.CreatedAt, le.CID, kind, handle, pds)
		}
		return nil
	}
}
