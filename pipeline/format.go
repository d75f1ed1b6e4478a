package pipeline

import "fmt"

// Format names the JSON encoding of events.
type Format string

// Formats.
const (
	// FormatMaxwell is Maxwell's format, with the optional fields chosen by
	// Config.Maxwell.
	FormatMaxwell Format = "maxwell"
	// FormatDebezium is the value of a Debezium MySQL connector change
	// event, rendered as Config.Debezium says (see event.Debezium).
	FormatDebezium Format = "debezium"
)

func (f Format) validate() error {
	switch f {
	case FormatMaxwell, FormatDebezium:
		return nil
	}
	return fmt.Errorf("format is %q: want maxwell or debezium", f)
}
