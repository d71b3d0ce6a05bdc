package atlite

// LargestGroup returns the largest number of commits that have shared one
// transaction so far.
func (s *Store) LargestGroup() int {
	s.group.mu.Lock()
	defer s.group.mu.Unlock()
	return s.group.largest
}

// SetGCMarked makes GC call f between its mark and its sweep.
func (s *Store) SetGCMarked(f func()) { s.gcMarked = f }
