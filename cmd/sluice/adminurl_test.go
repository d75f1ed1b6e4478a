package main

import (
	"strings"
	"testing"
)

// TestAdminURLReachable: the admin URL a node advertises (a follower
// redirects /cluster/ writes to the leader's) is never an unspecified
// address: admin_listen or listen on 0.0.0.0 or [::] takes the host peers
// reach the node at (ha.advertise, or ha.bind), http.admin_advertise wins,
// and with neither the config is refused naming the setting.
func TestAdminURLReachable(t *testing.T) {
	for _, c := range []struct {
		http    httpConfig
		ha      haConfig
		want    string
		wantErr string
	}{
		{http: httpConfig{AdminListen: "10.0.0.5:9091"}, want: "http://10.0.0.5:9091"},
		{http: httpConfig{AdminListen: "0.0.0.0:9091"}, ha: haConfig{Advertise: "node1.internal:7000", Bind: "0.0.0.0:7000"}, want: "http://node1.internal:9091"},
		{http: httpConfig{AdminListen: "[::]:9091"}, ha: haConfig{Bind: "10.0.0.6:7000"}, want: "http://10.0.0.6:9091"},
		{http: httpConfig{AdminListen: ":9091"}, ha: haConfig{Advertise: "[fd00::5]:7000"}, want: "http://[fd00::5]:9091"},
		{http: httpConfig{AdminListen: "0.0.0.0:9091", AdminAdvertise: "https://admin.node1:443"}, want: "https://admin.node1:443"},
		{http: httpConfig{AdminListen: "0.0.0.0:9091"}, ha: haConfig{Bind: "0.0.0.0:7000"}, wantErr: "set http.admin_advertise"},
		{http: httpConfig{Listen: "0.0.0.0:9090"}, ha: haConfig{Advertise: "10.0.0.7:7000"}, want: "http://10.0.0.7:9090"},
		{http: httpConfig{Listen: "0.0.0.0:9090", Advertise: "http://lb:80"}, want: "http://lb:80"},
		{http: httpConfig{Listen: "[::]:9090"}, wantErr: "set http.advertise"},
	} {
		cfg := &fileConfig{HTTP: c.http, HA: c.ha}
		got, err := cfg.adminURL()
		switch {
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%+v %+v: %q, %v; want an error saying %q", c.http, c.ha, got, err, c.wantErr)
		case c.wantErr == "" && (err != nil || got != c.want):
			t.Errorf("%+v %+v: %q, %v; want %s", c.http, c.ha, got, err, c.want)
		}
	}
	// A client on the node itself still finds it.
	cfg := &fileConfig{HTTP: httpConfig{AdminListen: "0.0.0.0:9091"}}
	if got := cfg.localAdminURL(); got != "http://127.0.0.1:9091" {
		t.Errorf("localAdminURL = %s, want http://127.0.0.1:9091", got)
	}
}
