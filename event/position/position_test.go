package position

import "testing"

func TestPositionCompare(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"mysql-bin.000001:4", "mysql-bin.000001:4", 0},
		{"mysql-bin.000001:100", "mysql-bin.000001:4", 1},
		{"mysql-bin.000001:999999", "mysql-bin.000002:4", -1},
		// numeric, never string, order of file sequence numbers
		{"mysql-bin.999999:4", "mysql-bin.1000000:4", -1},
		{"mysql-bin.000010:4", "mysql-bin.9:4", 1},
	}
	for _, c := range cases {
		a, err := Parse(c.a)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Parse(c.b)
		if err != nil {
			t.Fatal(err)
		}
		if got := a.Compare(b); got != c.want {
			t.Errorf("%s vs %s: %d, want %d", c.a, c.b, got, c.want)
		}
		if got := b.Compare(a); got != -c.want {
			t.Errorf("%s vs %s: %d, want %d", c.b, c.a, got, -c.want)
		}
		if a.String() != c.a {
			t.Errorf("round trip %s -> %s", c.a, a)
		}
	}
	for _, bad := range []string{"", "mysql-bin.000001", ":4", "mysql-bin.000001:x"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}
