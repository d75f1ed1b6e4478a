package verify

import (
	"strconv"
	"strings"
	"time"
)

// temporal normalizes a DATE, DATETIME, TIMESTAMP or TIME value's text
// the way sluice compact writes it: a value its Iceberg type cannot hold
// (a zero or invalid date, a TIME outside a day) is NULL, and a fraction
// loses its trailing zeros (Iceberg's µs types do not keep the declared
// fraction digits). Primary key columns stay text in the snapshot: only
// the fraction is normalized.
func (c *column) temporal(s string) string {
	if !c.key && !fitsTemporal(c.kind, s) {
		return nullMarker
	}
	if i := strings.LastIndexByte(s, '.'); i >= 0 && allDigits(s[i+1:]) {
		if f := strings.TrimRight(s[i+1:], "0"); f == "" {
			s = s[:i]
		} else {
			s = s[:i+1] + f
		}
	}
	return s
}

// fitsTemporal reports whether a value's text fits the kind's Iceberg type.
func fitsTemporal(k kind, s string) bool {
	switch k {
	case kindDate:
		return validDate(s)
	case kindDateTime:
		return len(s) >= 19 && (s[10] == ' ' || s[10] == 'T') && validDate(s[:10]) && clockInDay(s[11:])
	case kindTime:
		return clockInDay(s)
	}
	return true
}

func validDate(s string) bool {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' || !allDigits(s[:4]+s[5:7]+s[8:]) {
		return false
	}
	y, _ := strconv.Atoi(s[:4])
	m, _ := strconv.Atoi(s[5:7])
	d, _ := strconv.Atoi(s[8:])
	return m >= 1 && m <= 12 && d >= 1 && time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).Day() == d
}

// clockInDay reports "HH:MM:SS[.f{1,6}]" within 00:00:00–23:59:59.999999.
func clockInDay(s string) bool {
	clock, frac, hasFrac := strings.Cut(s, ".")
	if hasFrac && (frac == "" || len(frac) > 6 || !allDigits(frac)) {
		return false
	}
	p := strings.Split(clock, ":")
	if len(p) != 3 || len(p[0]) != 2 || len(p[1]) != 2 || len(p[2]) != 2 || !allDigits(p[0]+p[1]+p[2]) {
		return false
	}
	h, _ := strconv.Atoi(p[0])
	m, _ := strconv.Atoi(p[1])
	sec, _ := strconv.Atoi(p[2])
	return h < 24 && m < 60 && sec < 60
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
