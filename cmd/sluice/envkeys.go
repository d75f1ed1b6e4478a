package main

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
)

// envKeys decides which SLUICE_* environment variables are configuration.
// Only the key paths of fileConfig count; any other SLUICE_ variable (say
// SLUICE_VERSION, set by a deploy tool) is left alone, unless it looks like
// a misspelt key path, which is an error naming the key meant.
type envKeys struct {
	leaves   map[string]bool // "source.password", ...
	prefixes []string        // maps whose sub-keys are free: "compact.catalog.properties."
	lists    []string        // lists of sections, which the environment cannot set entries of: "sinks."
	typos    []string
}

func newEnvKeys() *envKeys {
	k := &envKeys{leaves: map[string]bool{}}
	k.walk(reflect.TypeFor[fileConfig](), "")
	return k
}

var durationType = reflect.TypeFor[time.Duration]()

func (k *envKeys) walk(t reflect.Type, prefix string) {
	for f := range t.Fields() {
		tag := f.Tag.Get("koanf")
		if tag == "" || tag == "-" || !f.IsExported() {
			continue
		}
		path := prefix + tag
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() != reflect.Uint8 && ft.Elem().Kind() != reflect.String:
			// A list of sections (sinks, peers): its entries cannot be
			// set one by one from the environment.
			k.lists = append(k.lists, path+".")
			k.leaves[path] = true
		case ft.Kind() == reflect.Struct && ft != durationType:
			k.walk(ft, path+".")
		case ft.Kind() == reflect.Map:
			k.prefixes = append(k.prefixes, path+".")
			k.leaves[path] = true
		default:
			k.leaves[path] = true
		}
	}
}

// key maps a variable's name (SLUICE_ trimmed, lower case, "__" as ".")
// to its key path; ok is false for a variable that is not configuration.
func (k *envKeys) key(path string) (string, bool) {
	if k.leaves[path] || slices.ContainsFunc(k.prefixes, func(p string) bool { return strings.HasPrefix(path, p) }) {
		return path, true
	}
	if i := slices.IndexFunc(k.lists, func(p string) bool { return strings.HasPrefix(path, p) }); i >= 0 {
		list := strings.TrimSuffix(k.lists[i], ".")
		k.typos = append(k.typos, fmt.Sprintf("SLUICE_%s sets an entry of the list %s, which the environment cannot: set it in the config file (secrets through their *_file keys)",
			strings.ToUpper(strings.ReplaceAll(path, ".", "__")), list))
		return "", false
	}
	if near := k.nearest(path); near != "" {
		k.typos = append(k.typos, fmt.Sprintf("SLUICE_%s is not a configuration key: did you mean SLUICE_%s (%s)?",
			strings.ToUpper(strings.ReplaceAll(path, ".", "__")), strings.ToUpper(strings.ReplaceAll(near, ".", "__")), near))
	}
	return "", false
}

// err reports the misspelt keys seen, if any.
func (k *envKeys) err() error {
	if len(k.typos) == 0 {
		return nil
	}
	slices.Sort(k.typos)
	return fmt.Errorf("config from environment: %s", strings.Join(k.typos, "; "))
}

// nearest is the known key path within a small edit distance of path, or "".
func (k *envKeys) nearest(path string) string {
	best, bestD := "", max(1, len(path)/5)+1
	for leaf := range k.leaves {
		if d := editDistance(path, leaf); d < bestD || (d == bestD && leaf < best) {
			best, bestD = leaf, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
