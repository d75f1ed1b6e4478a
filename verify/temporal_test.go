package verify

import "testing"

// TestTemporalNormalize: both sides render dates and times alike; values
// the compactor writes as NULL are NULL here too, except in a primary key.
func TestTemporalNormalize(t *testing.T) {
	tests := []struct {
		kind kind
		key  bool
		in   string
		want string
	}{
		{kindDateTime, false, "2024-01-02 03:04:05.120", "2024-01-02 03:04:05.12"},
		{kindDateTime, false, "2024-01-02 03:04:05.000000", "2024-01-02 03:04:05"},
		{kindDateTime, false, "2024-01-02 03:04:05", "2024-01-02 03:04:05"},
		{kindDateTime, false, "0000-00-00 00:00:00", nullMarker},
		{kindDateTime, false, "2024-00-10 00:00:00", nullMarker},
		{kindDateTime, true, "0000-00-00 00:00:00.000", "0000-00-00 00:00:00"},
		{kindDate, false, "2024-02-29", "2024-02-29"},
		{kindDate, false, "2023-02-29", nullMarker},
		{kindDate, false, "2024-03-00", nullMarker},
		{kindTime, false, "23:59:59.999999", "23:59:59.999999"},
		{kindTime, false, "00:00:00.50", "00:00:00.5"},
		{kindTime, false, "24:00:00", nullMarker},
		{kindTime, false, "-00:00:01", nullMarker},
		{kindTime, false, "838:59:59", nullMarker},
		{kindTime, true, "838:59:59", "838:59:59"},
	}
	for _, tt := range tests {
		c := column{name: "c", kind: tt.kind, key: tt.key}
		if got := c.sourceValue([]byte(tt.in)); got != tt.want {
			t.Errorf("kind %d key %v: source %q → %q, want %q", tt.kind, tt.key, tt.in, got, tt.want)
		}
		if got := c.snapshotValue(tt.in, false); got != tt.want {
			t.Errorf("kind %d key %v: snapshot string %q → %q, want %q", tt.kind, tt.key, tt.in, got, tt.want)
		}
	}
	if kindOf("DATETIME") != kindDateTime || kindOf("timestamp") != kindDateTime || kindOf("date") != kindDate || kindOf("time") != kindTime {
		t.Error("kindOf does not map the temporal types")
	}
}
