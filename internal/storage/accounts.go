package storage

// AccountReader reads what the accounts area of the engine reads.
type AccountReader interface {
}

// AccountWriter writes what the accounts area of the engine writes.
type AccountWriter interface {
}
