package main

import (
	"errors"
	"fmt"
)

// snapshot.mode values: Debezium's names.
const (
	snapshotNever       = "never"
	snapshotNoData      = "no_data"
	snapshotInitial     = "initial"
	snapshotWhenNeeded  = "when_needed"
	snapshotInitialOnly = "initial_only"
)

// takesInitial reports whether the mode snapshots the configured tables
// when the pipeline starts without a checkpoint.
func (s *snapshotConfig) takesInitial() bool {
	switch s.Mode {
	case snapshotInitial, snapshotWhenNeeded, snapshotInitialOnly:
		return true
	}
	return false
}

func (s *snapshotConfig) validateMode(ha bool) error {
	switch s.Mode {
	case snapshotNever, snapshotNoData, snapshotInitial, snapshotWhenNeeded, snapshotInitialOnly:
	default:
		return fmt.Errorf("snapshot.mode %q: want never, no_data, initial, when_needed or initial_only", s.Mode)
	}
	if !s.takesInitial() && len(s.Tables) > 0 {
		return fmt.Errorf("snapshot.tables lists tables for the initial snapshot, but snapshot.mode is %s: set snapshot.mode: initial, or request snapshots with `sluice snapshot --table`", s.Mode)
	}
	if s.Mode == snapshotInitialOnly && ha {
		return errors.New("snapshot.mode initial_only stops once the snapshot is done, which a cluster node does not: leave ha.node_id unset for it")
	}
	return nil
}
