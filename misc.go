package atlite

import (
	"context"
	"fmt"

	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/syntax"
)

// NextTID returns a new TID from the store's clock, for record keys. TIDs
// from one store strictly increase.
func (s *Store) NextTID() syntax.TID { return s.clock.Next() }

// Collections lists the collections that hold records in the repo did, in
// order, or returns ErrRepoNotFound when there is no such repo.
func (s *Store) Collections(ctx context.Context, did syntax.DID) ([]syntax.NSID, error) {
	done, err := s.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	names, err := s.b.Reader().Collections(ctx, did.String())
	if err != nil {
		return nil, fmt.Errorf("list collections of %s: %w", did, err)
	}
	if len(names) == 0 {
		if err := s.repoExists(ctx, did); err != nil {
			return nil, err
		}
	}
	var cols []syntax.NSID // nil, as the rows were, when there are none
	if len(names) > 0 {
		cols = make([]syntax.NSID, len(names))
	}
	for i, n := range names {
		cols[i] = syntax.NSID(n)
	}
	return cols, nil
}

// EventJSON renders an event as one line of atproto JSON, shaped like the
// subscribeRepos message of its kind ($type "#commit", "#identity",
// "#account" or "#sync"), with the commit's block CIDs listed rather than
// carried.
func EventJSON(e Event) ([]byte, error) {
	m := map[string]any{
		"$type": "#" + string(e.Kind),
		"seq":   e.Seq,
		"did":   e.DID.String(),
		"time":  e.Time.Format("2006-01-02T15:04:05.000000Z"),
	}
	if err := e.fields(m); err != nil {
		return nil, err
	}
	switch e.Kind {
	case KindCommit:
		m["repo"] = m["did"] // #commit names the repo "repo"
		delete(m, "did")
		m["rev"] = e.Rev.String()
	case KindSync:
		m["rev"] = e.Rev.String()
	}
	return datamodel.ToJSON(m)
}
