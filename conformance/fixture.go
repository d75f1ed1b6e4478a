package conformance

import (
	"fmt"
	"regexp"
	"strings"
)

// MaxwellFixture is one of Maxwell's SQL → JSON test files: statements to run
// in order on one connection, and the events they must produce.
type MaxwellFixture struct {
	Statements []string
	// Expected are the events, in file order, each of which must equal some
	// emitted event once ts, xid, xoffset and commit are dropped from it.
	Expected []map[string]any
	// ExpectedText holds each expected event as written, for messages.
	ExpectedText []string
}

// expectPattern is Maxwell's JSON_PATTERN: a line holding an expected event.
var expectPattern = regexp.MustCompile(`^\s*->\s*\{`)

// ParseMaxwellFixture reads a fixture the way Maxwell's MaxwellTestJSON does:
// blank lines are skipped; a line starting with whitespace that is not an
// expectation continues the previous statement or expectation (joined with a
// space); a line matching `^\s*->\s*{` starts an expectation in relaxed JSON;
// any other line starts a statement. One deviation: a line starting with '#'
// is a comment here, where Maxwell would send it to the server as a statement.
func ParseMaxwellFixture(text string) (*MaxwellFixture, error) {
	fx := &MaxwellFixture{}
	var buf string
	var have, isJSON bool
	flush := func() error {
		if !have {
			return nil
		}
		have = false
		if !isJSON {
			fx.Statements = append(fx.Statements, buf)
			return nil
		}
		v, err := ParseRelaxedJSON(buf)
		if err != nil {
			return fmt.Errorf("expected event %d: %w\n%s", len(fx.Expected)+1, err, buf)
		}
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("expected event %d is not an object: %s", len(fx.Expected)+1, buf)
		}
		fx.Expected = append(fx.Expected, m)
		fx.ExpectedText = append(fx.ExpectedText, buf)
		return nil
	}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		expect := expectPattern.MatchString(line)
		if have && !expect && (line[0] == ' ' || line[0] == '\t') {
			buf += " " + strings.TrimSpace(line)
			continue
		}
		if err := flush(); err != nil {
			return nil, err
		}
		switch {
		case expect:
			buf, isJSON = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "->")), true
		case strings.HasPrefix(line, "#"):
			continue
		default:
			buf, isJSON = line, false
		}
		have = true
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return fx, nil
}

// MatchEvents reports, for each expected event, whether it equals (by
// EqualJSON) some emitted event. Extra emitted events and order do not matter.
func MatchEvents(expected, emitted []map[string]any) []bool {
	found := make([]bool, len(expected))
	for i, want := range expected {
		for _, got := range emitted {
			if EqualJSON(want, got) {
				found[i] = true
				break
			}
		}
	}
	return found
}
