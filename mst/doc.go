// Package mst implements the Merkle Search Tree of atproto repositories: the
// sorted map from record paths ("collection/rkey") to record CIDs whose root
// CID a commit signs. Node CIDs and bytes are identical to those of the
// reference implementations; the package passes the atproto interop vectors
// and all 16,384 cases of the mst-test-suite.
//
// The package is pure: it reads nodes through the small [BlockSource]
// interface, which a store implements, and hands new nodes back to the
// caller to persist ([Tree.UnstoredBlocks]). It neither opens files nor
// talks to the network.
//
// # Trees
//
// A [Tree] is immutable. [Tree.Add], [Tree.Update], [Tree.Put],
// [Tree.Delete] and the batch form [Tree.Apply] return a new tree that
// shares every untouched node with the old one, which stays valid. [New]
// makes an empty tree, [Build] bulk-loads sorted entries bottom-up in one
// pass, and [Load] opens a stored tree at its root CID.
//
// Loading is lazy: a loaded tree decodes only the nodes an operation
// touches. A lookup reads one node per layer; changing one key of a tree of
// N keys reads and writes O(log N) nodes; [Tree.Walk], [Tree.List] and
// [Tree.Blocks] keep O(depth) nodes in memory however large the tree. Nodes
// read for a lookup, a listing or a diff are not cached in the tree (the
// block source may cache); only nodes built or changed through the tree stay
// in memory. Every CID is computed when a tree is built or changed, so
// [Tree.Root] never reads or hashes.
//
// [Tree.Apply] applies many writes at once: the result is the same as
// applying them one by one, but each node is read at most once and encoded
// once. A write that fails leaves nothing behind: Apply returns the error
// and no tree.
//
// # Keys
//
// Keys written to a tree must pass [ValidateKey]: an NSID-shaped collection,
// a slash and a valid record key, as the repository specification requires.
// Keys read from stored nodes are held to the looser rules of the reference
// implementation so that any tree it accepts can be read. [Layer] gives a
// key's layer: the leading zero bits of its SHA-256, counted in 2-bit units.
//
// # Diffs and proofs
//
// [Diff] compares two trees, descending only into subtrees whose CIDs
// differ, so its cost grows with the size of the change: it returns the
// created and deleted nodes, the record operations, and the nodes that prove
// them. [Tree.CIDsForPath] gives the inclusion or exclusion proof of one
// key. For sync 1.1, [Tree.CoveringProof] gives the blocks a #commit event
// must carry besides its new nodes, and [VerifyInversion] checks, on the
// consumer's side, that inverting a commit's operations on those blocks
// gives back the previous root.
//
// # Export
//
// [Tree.Blocks] streams a tree's nodes, and through a hook its records, in
// the pre-order of a repository CAR export, so that a CAR can be written
// and checked in one pass.
//
// # Concurrency and ownership
//
// A Tree is safe for concurrent use, and so are trees derived from it. The
// byte slices returned by [Tree.UnstoredBlocks] and [Tree.CoveringProof] and
// passed to a [Tree.Blocks] callback are shared and must not be modified.
// [MemBlocks] is safe for concurrent use.
//
// # Errors
//
// A missing key is [ErrNotFound]; adding a present key is [ErrExists]; an
// invalid key is [ErrInvalidKey]. A node that cannot be read gives a
// [*NodeError] naming its CID and wrapping [ErrMalformedNode] (bad or
// non-canonical CBOR, wrong types, unsorted or duplicate keys, a bad prefix
// length, a key on the wrong layer or outside its parent's range, a subtree
// below layer 0, an empty inner node, an untrimmed root, or bytes that do
// not hash to the CID) or [ErrMissingBlock]. Every node's layer is fixed by
// its parent, so a malicious block source can neither make an operation
// loop nor make it panic.
//
// # Caveats
//
// [Tree.UnstoredBlocks] reports the nodes built since the tree was loaded
// or last marked with [Tree.MarkStored]. A node rebuilt identical to one the
// source holds (a key added, then deleted) is not reported when the tree, or
// a tree it derives from, read that node from the source, which is always
// the case when the trees were loaded from it; storing a block twice is
// harmless anyway. [Tree.LeafCount] reads the whole tree.
package mst
