package mst_test

import (
	"context"
	"fmt"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/mst"
)

func Example() {
	ctx := context.Background()
	record, _ := cid.Decode("bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454")
	tree := mst.New(nil)
	for _, key := range []string{
		"com.example.record/3jqfcqzm3fp2j",
		"com.example.record/3jqfcqzm3fr2j",
		"com.example.record/3jqfcqzm3fs2j",
		"com.example.record/3jqfcqzm3ft2j",
		"com.example.record/3jqfcqzm4fc2j",
	} {
		var err error
		if tree, err = tree.Add(ctx, key, record); err != nil {
			panic(err)
		}
	}
	root, _ := tree.Root(ctx)
	layer, _ := tree.Layer(ctx)
	fmt.Println(root, layer)
	// Output: bafyreicmahysq4n6wfuxo522m6dpiy7z7qzym3dzs756t5n7nfdgccwq7m 1
}

func ExampleBuild() {
	record, _ := cid.Decode("bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454")
	tree, err := mst.Build(nil, []mst.Entry{
		{Key: "A0/501344", Value: record},
		{Key: "B2/303249", Value: record},
		{Key: "C0/535043", Value: record},
	})
	if err != nil {
		panic(err)
	}
	root, _ := tree.Root(context.Background())
	fmt.Println(root)
	// Output: bafyreifoy7ierkqljk37wozudqhqjuuahjnubqvd3qprx5ocwcfrx5v3hm
}

func ExampleTree_Apply() {
	ctx := context.Background()
	record, _ := cid.Decode("bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454")

	// A stored tree, opened lazily from its block source.
	blocks := &mst.MemBlocks{}
	built, _ := mst.Build(nil, []mst.Entry{
		{Key: "A0/501344", Value: record},
		{Key: "B2/303249", Value: record},
		{Key: "C0/535043", Value: record},
	})
	stored, _ := built.UnstoredBlocks(ctx)
	blocks.PutMany(stored)
	root, _ := built.Root(ctx)
	tree := mst.Load(blocks, root)

	// One commit: two writes applied at once.
	next, err := tree.Apply(ctx, []mst.Write{
		{Action: mst.ActionCreate, Key: "D2/915466", Value: record},
		{Action: mst.ActionDelete, Key: "B2/303249"},
	})
	if err != nil {
		panic(err)
	}
	newBlocks, _ := next.UnstoredBlocks(ctx)
	newRoot, _ := next.Root(ctx)
	fmt.Println(len(newBlocks), "new nodes, root", newRoot)

	// The old tree is unchanged.
	n, _ := tree.LeafCount(ctx)
	fmt.Println(n, "keys in the old tree")
	// Output:
	// 3 new nodes, root bafyreibrlztsvlonlti7s3ninezioittb5j44coy6y7jmg3qcdvgwbgpr4
	// 3 keys in the old tree
}

func ExampleDiff() {
	ctx := context.Background()
	record, _ := cid.Decode("bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454")
	a, _ := mst.Build(nil, []mst.Entry{
		{Key: "A0/501344", Value: record},
		{Key: "C0/535043", Value: record},
	})
	b, _ := a.Put(ctx, "B2/303249", record)
	d, err := mst.Diff(ctx, a, b)
	if err != nil {
		panic(err)
	}
	for _, op := range d.RecordOps {
		fmt.Println(op.Key, op.Old.Defined(), op.New.Defined())
	}
	fmt.Println(len(d.CreatedNodes), "created,", len(d.DeletedNodes), "deleted")
	// Output:
	// B2/303249 false true
	// 5 created, 1 deleted
}
