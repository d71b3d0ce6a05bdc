package lexicon

import (
	"embed"
	"io/fs"
	"sync"
)

// embedded holds the lexicons Default loads: see lexicons/README.md.
//
//go:embed lexicons
var embedded embed.FS

// defaultCatalog loads the embedded lexicons once, on first use.
var defaultCatalog = sync.OnceValue(func() *Catalog {
	c, err := loadEmbedded()
	if err != nil {
		panic("lexicon: embedded lexicons: " + err.Error())
	}
	return c
})

func loadEmbedded() (*Catalog, error) {
	sub, err := fs.Sub(embedded, "lexicons")
	if err != nil {
		return nil, err
	}
	return NewCatalogFS(sub)
}

// Default returns the catalog of the lexicons built into the package: the
// record lexicons of app.bsky, chat.bsky and com.atproto and every
// definition they refer to. It is loaded on the first call and shared
// afterwards; the catalog is immutable.
func Default() *Catalog { return defaultCatalog() }
