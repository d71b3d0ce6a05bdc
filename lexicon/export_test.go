package lexicon

import "sort"

// Unresolved lists the references of c's definitions that name a
// definition c lacks.
func Unresolved(c *Catalog) []string {
	seen := map[*node]bool{}
	var out []string
	var walk func(n *node)
	walk = func(n *node) {
		if n == nil || seen[n] {
			return
		}
		seen[n] = true
		switch n.kind {
		case kindRef:
			if n.target == nil {
				out = append(out, n.ref)
			}
			walk(n.target)
		case kindUnion:
			for r, m := range n.members {
				if m == nil {
					out = append(out, r)
				}
				walk(m)
			}
		case kindArray:
			walk(n.items)
		case kindRecord:
			walk(n.record)
		case kindObject:
			for _, p := range n.props {
				walk(p.node)
			}
		}
	}
	for _, n := range c.defs {
		walk(n)
	}
	sort.Strings(out)
	return out
}

// LoadEmbedded compiles the embedded lexicons afresh.
func LoadEmbedded() (*Catalog, error) { return loadEmbedded() }
