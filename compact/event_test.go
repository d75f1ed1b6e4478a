package compact

import (
	"errors"
	"reflect"
	"testing"
)

// TestParseChangeKeyShapes: the compactor reads primary_key in both
// shapes sluice writes, Maxwell's array (with primary_key_columns) and the
// object, to the same key.
func TestParseChangeKeyShapes(t *testing.T) {
	head := `{"database":"d","table":"t","type":"update","ts":5,"dedupe_key":"1:b.000001:4:0",`
	tail := `"data":{"a":1,"b":"x\"y","v":2.50},"old":{"v":1}}`
	obj, err := parseChange([]byte(head + `"primary_key":{"a":1,"b":"x\"y"},` + tail))
	if err != nil {
		t.Fatal(err)
	}
	arr, err := parseChange([]byte(head + `"primary_key":[1,"x\"y"],"primary_key_columns":["a","b"],` + tail))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(obj.pk, arr.pk) || !reflect.DeepEqual(obj.key, arr.key) || !reflect.DeepEqual(arr.pk, []string{"a", "b"}) {
		t.Errorf("object shape: %v %v; array shape: %v %v", obj.pk, obj.key, arr.pk, arr.key)
	}
	keyless, err := parseChange([]byte(head + `"primary_key":[],"primary_key_columns":[],` + tail))
	if err != nil || keyless.pk != nil {
		t.Errorf("keyless table: pk %v, err %v", keyless.pk, err)
	}
	if _, err := parseChange([]byte(head + `"primary_key":[1,"x"],` + tail)); !errors.Is(err, errNoKeyColumns) {
		t.Errorf("array without its columns: %v, want errNoKeyColumns", err)
	}
	if _, err := parseChange([]byte(head + `"primary_key":[1],"primary_key_columns":["a","b"],` + tail)); err == nil {
		t.Error("an array of the wrong length was accepted")
	}
}
