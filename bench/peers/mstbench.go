package main

import (
	"context"
	"fmt"
	"time"

	amst "github.com/bluesky-social/indigo/atproto/repo/mst"
	imst "github.com/bluesky-social/indigo/mst"
	"github.com/bluesky-social/indigo/util"
	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	blockstore "github.com/ipfs/go-ipfs-blockstore"

	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/mst"
)

// mstTimes are one round of the in-memory MST workloads of one engine.
type mstTimes struct {
	buildPerKey time.Duration // building the tree of every key, per key
	insert      time.Duration // median: one new key into that tree, root CID computed
	diff        time.Duration // median: the diff of two trees 10 keys apart
}

// mstInserts and mstDiffs are how many inserts and diffs a round times.
const (
	mstInserts = 200
	mstDiffs   = 20
)

// mstExtraKeys returns k keys not in the repo, in ascending order, with
// their values.
func mstExtraKeys(k, round int) []mst.Entry {
	out := make([]mst.Entry, k)
	for i := range out {
		r := singlePost(1_000_000 + round*10_000 + i)
		out[i] = mst.Entry{Key: "app.bsky.feed.zzinsert/" + r.rkey, Value: datamodel.CBORCID(r.data)}
	}
	return out
}

// atliteMST times atlite's mst package: Build over entries (sorted), then
// Add of new keys into the built tree (Add computes the changed nodes'
// CIDs), then Diff of the tree and the tree with 10 keys added.
func atliteMST(ctx context.Context, entries []mst.Entry, round int) (mstTimes, cid.Cid, error) {
	var mt mstTimes
	src := mst.NewMemBlocks(nil)
	t0 := time.Now()
	tree, err := mst.Build(src, entries)
	if err != nil {
		return mt, cid.Undef, err
	}
	root, err := tree.Root(ctx)
	if err != nil {
		return mt, cid.Undef, err
	}
	mt.buildPerKey = time.Since(t0) / time.Duration(len(entries))

	extra := mstExtraKeys(mstInserts, round)
	ins := make([]time.Duration, len(extra))
	for i, e := range extra {
		t := time.Now()
		t2, err := tree.Add(ctx, e.Key, e.Value)
		if err != nil {
			return mt, cid.Undef, err
		}
		if _, err := t2.Root(ctx); err != nil {
			return mt, cid.Undef, err
		}
		ins[i] = time.Since(t)
	}
	mt.insert = median(ins)

	next := tree
	for _, e := range extra[:10] {
		if next, err = next.Add(ctx, e.Key, e.Value); err != nil {
			return mt, cid.Undef, err
		}
	}
	diffs := make([]time.Duration, mstDiffs)
	for i := range diffs {
		t := time.Now()
		d, err := mst.Diff(ctx, tree, next)
		if err != nil {
			return mt, cid.Undef, err
		}
		diffs[i] = time.Since(t)
		if len(d.RecordOps) != 10 {
			return mt, cid.Undef, fmt.Errorf("atlite mst diff: %d ops, want 10", len(d.RecordOps))
		}
	}
	mt.diff = median(diffs)
	return mt, root, nil
}

// indigoMST times indigo's mst package (the one its repo and repomgr
// use), in memory over a map blockstore: the tree built by adding every
// key (it has no bulk build) and GetPointer, which computes and stores the
// nodes; then Add of one new key and GetPointer; then DiffTrees of the
// tree and the tree with 10 keys added.
func indigoMST(ctx context.Context, entries []mst.Entry, round int) (mstTimes, cid.Cid, error) {
	var mt mstTimes
	//lint:ignore SA1019 the map blockstore indigo's own mst tests and repomgr use
	bs := blockstore.NewBlockstore(datastore.NewMapDatastore())
	cst := util.CborStore(bs)
	t0 := time.Now()
	tree := imst.NewEmptyMST(cst)
	var err error
	for _, e := range entries {
		if tree, err = tree.Add(ctx, e.Key, e.Value, -1); err != nil {
			return mt, cid.Undef, err
		}
	}
	root, err := tree.GetPointer(ctx)
	if err != nil {
		return mt, cid.Undef, err
	}
	mt.buildPerKey = time.Since(t0) / time.Duration(len(entries))

	extra := mstExtraKeys(mstInserts, round)
	ins := make([]time.Duration, len(extra))
	for i, e := range extra {
		t := time.Now()
		t2, err := tree.Add(ctx, e.Key, e.Value, -1)
		if err != nil {
			return mt, cid.Undef, err
		}
		if _, err := t2.GetPointer(ctx); err != nil {
			return mt, cid.Undef, err
		}
		ins[i] = time.Since(t)
	}
	mt.insert = median(ins)

	next := tree
	for _, e := range extra[:10] {
		if next, err = next.Add(ctx, e.Key, e.Value, -1); err != nil {
			return mt, cid.Undef, err
		}
	}
	nextRoot, err := next.GetPointer(ctx)
	if err != nil {
		return mt, cid.Undef, err
	}
	diffs := make([]time.Duration, mstDiffs)
	for i := range diffs {
		t := time.Now()
		d, err := imst.DiffTrees(ctx, bs, root, nextRoot)
		if err != nil {
			return mt, cid.Undef, err
		}
		diffs[i] = time.Since(t)
		if len(d) != 10 {
			return mt, cid.Undef, fmt.Errorf("indigo mst diff: %d ops, want 10", len(d))
		}
	}
	mt.diff = median(diffs)
	return mt, root, nil
}

// indigoNewMST times indigo's newer atproto/repo/mst package, which its
// repomgr does not use yet: a mutable tree built by inserting every key and
// computing RootCID, then, on that tree, inserts of new keys each followed
// by RootCID (the tree is changed in place; no copy is timed). It has no
// diff.
func indigoNewMST(entries []mst.Entry, round int) (mstTimes, cid.Cid, error) {
	var mt mstTimes
	t0 := time.Now()
	tree := amst.NewEmptyTree()
	for _, e := range entries {
		if _, err := tree.Insert([]byte(e.Key), e.Value); err != nil {
			return mt, cid.Undef, err
		}
	}
	root, err := tree.RootCID()
	if err != nil {
		return mt, cid.Undef, err
	}
	mt.buildPerKey = time.Since(t0) / time.Duration(len(entries))
	extra := mstExtraKeys(mstInserts, round)
	ins := make([]time.Duration, len(extra))
	for i, e := range extra {
		t := time.Now()
		if _, err := tree.Insert([]byte(e.Key), e.Value); err != nil {
			return mt, cid.Undef, err
		}
		if _, err := tree.RootCID(); err != nil {
			return mt, cid.Undef, err
		}
		ins[i] = time.Since(t)
	}
	mt.insert = median(ins)
	return mt, *root, nil
}
