package main

import (
	"fmt"
	"maps"

	"github.com/sluicecdc/sluice/pipeline"
)

// popSinkFormat takes a sink's optional "format" key out of raw (the sink's
// own decoder refuses keys it does not know) and returns the format the
// sink gets: its own, or for an s3 sink, the lake, Maxwell's lines, which
// the compactor reads, or "" for output.format.
func popSinkFormat(i int, raw map[string]any) (pipeline.Format, map[string]any, error) {
	v, ok := raw["format"]
	if !ok {
		if raw["type"] == "s3" {
			return pipeline.FormatMaxwell, raw, nil
		}
		return "", raw, nil
	}
	rest := maps.Clone(raw)
	delete(rest, "format")
	s, _ := v.(string)
	switch f := pipeline.Format(s); f {
	case pipeline.FormatMaxwell, pipeline.FormatDebezium:
		return f, rest, nil
	}
	return "", nil, fmt.Errorf("sinks[%d].format %v: want maxwell or debezium (or leave it out for output.format)", i, v)
}

// sinkFormats lists the format of each sink in c.sinks, in order.
func (c *fileConfig) sinkFormatList() []pipeline.Format {
	out := make([]pipeline.Format, len(c.sinks))
	for i, spec := range c.sinks {
		out[i] = c.sinkFormats[spec]
	}
	return out
}
