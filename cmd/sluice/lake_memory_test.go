package main

import "testing"

func TestCompactMemory(t *testing.T) {
	for in, want := range map[string]int64{"": 0, "256MiB": 256 << 20, "1GiB": 1 << 30, "512 KiB": 512 << 10, "1048576": 1 << 20} {
		got, err := compactConfig{Memory: in}.memory()
		if err != nil || got != want {
			t.Errorf("compact.memory %q: %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"lots", "-5MiB", "0", "1.5GiB", "256MB"} {
		if _, err := (compactConfig{Memory: in}).memory(); err == nil {
			t.Errorf("compact.memory %q: no error", in)
		}
	}
}
