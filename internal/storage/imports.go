package storage

// ImportReader reads what the imports area of the engine reads.
type ImportReader interface {
}

// ImportWriter writes what the imports area of the engine writes.
type ImportWriter interface {
}
