package storage

// BlobReader reads what the blobs area of the engine reads.
type BlobReader interface {
}

// BlobWriter writes what the blobs area of the engine writes.
type BlobWriter interface {
}
