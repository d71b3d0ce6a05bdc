package atlite

import (
	"context"

	"github.com/jmoiron/sqlx"

	"github.com/atlite-dev/atlite/commit"
)

// updateBlobRefs records, inside a commit's transaction, which blobs the
// commit's records cite: references from created and updated records are
// added, those of updated and deleted records (ops[i].Prev) are dropped.
// writes[i] and ops are those of commitTx; an op is missing for a no-op
// update, so match ops by path.
func (s *Store) updateBlobRefs(ctx context.Context, tx *sqlx.Tx, repoID int64, writes []commit.Write, ops []commit.Op) error {
	return nil
}
