package storage

// Hooks for the tests of package storage_test.

// SetInlineMaxBytes changes how much a batch holds before it is no longer
// small, until restore is called.
func SetInlineMaxBytes(n int) (restore func()) {
	old := inlineMaxBytes
	inlineMaxBytes = n
	return func() { inlineMaxBytes = old }
}

// HoldWriter takes the store's writer, as a long commit would, until
// release is called.
func (s *Store) HoldWriter() (release func()) {
	s.writeMu.Lock()
	return s.writeMu.Unlock
}

// WaitingCommits is how many small commits wait for the writer.
func (s *Store) WaitingCommits() int {
	s.groupMu.Lock()
	defer s.groupMu.Unlock()
	return len(s.grouped)
}

// GroupedCommits counts the commits that went in a group of several.
func (s *Store) GroupedCommits() int64 { return s.groupedCommits.Load() }
