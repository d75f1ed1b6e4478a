package checkpoint

import (
	"encoding/json"
	"fmt"

	"github.com/sluicecdc/sluice/event"
)

// Encode returns cp as JSON, in the file store's form (the position spelled
// out as "file" and "offset"): what stores that keep a checkpoint as a
// record (Kafka) write.
func Encode(cp *Checkpoint) ([]byte, error) {
	return json.Marshal(fileCheckpoint{Checkpoint: cp, File: cp.Position.File, Offset: cp.Position.Offset})
}

// Decode reads a checkpoint written by Encode.
func Decode(b []byte) (*Checkpoint, error) {
	fc := fileCheckpoint{Checkpoint: &Checkpoint{}}
	if err := json.Unmarshal(b, &fc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if fc.File == "" {
		return nil, fmt.Errorf("%w: no binlog file in %s", ErrCorrupt, b)
	}
	fc.Checkpoint.Position = event.Position{File: fc.File, Offset: fc.Offset}
	return fc.Checkpoint, nil
}
