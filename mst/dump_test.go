package mst

import (
	"context"
	"fmt"
	"strings"
)

// Dump prints the tree structure, for debugging.
func (t *Tree) Dump(ctx context.Context) string {
	var sb strings.Builder
	var visit func(l link, layer int, isRoot bool, indent string)
	visit = func(l link, layer int, isRoot bool, indent string) {
		n, err := t.read(ctx, l, layer, isRoot, span{})
		if err != nil {
			fmt.Fprintf(&sb, "%serr %v\n", indent, err)
			return
		}
		fmt.Fprintf(&sb, "%snode %s L%d\n", indent, n.cid.String()[:16], n.layer)
		if !n.left.empty() {
			visit(n.left, n.layer-1, false, indent+"  ")
		}
		for _, e := range n.entries {
			fmt.Fprintf(&sb, "%s  - %s\n", indent, e.key)
			if !e.right.empty() {
				visit(e.right, n.layer-1, false, indent+"  ")
			}
		}
	}
	visit(t.root, t.layer, true, "")
	return sb.String()
}
