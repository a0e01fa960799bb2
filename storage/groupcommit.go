package storage

import (
	"context"
	"errors"
)

// Group commits: a thousand small orgs committed one transaction each
// spend most of their time on what every transaction costs (taking the
// write lock, writing the touched pages to the WAL, checkpoints), not on
// their rows. Small commits that arrive while the writer is busy are
// therefore run together, in one transaction, by whichever of them gets
// the writer first. Each keeps its own lease fence and its own scope
// records, so the group changes only how many transactions carry them: if
// the group fails (one fence lost, one row refused), every commit of it
// runs again alone, and each gets its own answer.

// groupMaxBytes bounds the rows one group carries, so that a group's
// transaction on a libSQL server stays one modest request, far under the
// server's transaction timeout.
const groupMaxBytes = 8 << 20

// groupedCommit is one small commit waiting for the writer.
type groupedCommit struct {
	fence *Lease
	stmts []stmt
	bytes int
	done  chan error // buffered; errGroupFailed asks its owner to commit alone
}

var errGroupFailed = errors.New("group commit failed")

// commitGrouped commits stmts (bytes of row values) with whatever other
// small commits wait for the writer at the same time; see above. It
// returns what the commit of stmts returned, alone or in a group.
func (s *Store) commitGrouped(ctx context.Context, fence *Lease, stmts []stmt, bytes int) error {
	me := &groupedCommit{fence: fence, stmts: stmts, bytes: bytes, done: make(chan error, 1)}
	s.groupMu.Lock()
	s.grouped = append(s.grouped, me)
	s.groupMu.Unlock()

	s.writeMu.Lock()
	select {
	case err := <-me.done: // a leader before us ran it
		s.writeMu.Unlock()
		if errors.Is(err, errGroupFailed) {
			return s.commitBatch(ctx, fence, stmts)
		}
		return err
	default:
	}
	group := s.takeGroup(me)
	err := s.runGroup(ctx, group)
	s.writeMu.Unlock()
	if err != nil && len(group) > 1 {
		return s.commitBatch(ctx, fence, stmts)
	}
	return err
}

// takeGroup removes from the queue the commits the leader runs: itself
// first, then those that arrived before it took the writer, in order, up
// to groupMaxBytes.
func (s *Store) takeGroup(leader *groupedCommit) []*groupedCommit {
	s.groupMu.Lock()
	defer s.groupMu.Unlock()
	group := []*groupedCommit{leader}
	bytes := leader.bytes
	var rest []*groupedCommit
	for _, c := range s.grouped {
		switch {
		case c == leader:
		case bytes+c.bytes <= groupMaxBytes:
			group = append(group, c)
			bytes += c.bytes
		default:
			rest = append(rest, c)
		}
	}
	s.grouped = rest
	return group
}

// runGroup commits group in one transaction, the caller holding writeMu,
// and answers every member but the first (the caller). On failure the
// others are told to commit alone, and the caller does the same.
func (s *Store) runGroup(ctx context.Context, group []*groupedCommit) error {
	var stmts []stmt
	for _, c := range group {
		if c.fence != nil {
			stmts = append(stmts, c.fence.fenceStmt())
		}
		stmts = append(stmts, c.stmts...)
	}
	err := s.commitLocked(ctx, nil, stmts)
	answer := err
	if err != nil && len(group) > 1 {
		answer = errGroupFailed
	}
	for _, c := range group[1:] {
		c.done <- answer
	}
	if err == nil && len(group) > 1 {
		s.groupedCommits.Add(int64(len(group)))
	}
	return err
}
