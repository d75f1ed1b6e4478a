package main

// compactConfig is the "compact" section: where snapshot tables go.
type compactConfig struct {
	Catalog   catalogConfig `koanf:"catalog"`
	Namespace string        `koanf:"namespace"`
}

type catalogConfig struct {
	Type       string            `koanf:"type"` // sql (SQLite) | rest | glue
	Name       string            `koanf:"name"`
	URI        string            `koanf:"uri"`
	Warehouse  string            `koanf:"warehouse"`
	Properties map[string]string `koanf:"properties"`
}
