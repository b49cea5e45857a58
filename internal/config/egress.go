package config

import (
	"os"

	"github.com/dispatchd/dispatchd/internal/delivery"
)

// validate checks the file's delivery defaults.
func (d *DeliveryDefaults) validate(add func(path, format string, args ...any)) {
	if d == nil {
		return
	}
	if d.Proxy != "" {
		if _, err := delivery.ParseProxy(d.Proxy); err != nil {
			add("delivery.proxy", "%v", err)
		}
	}
	if d.CAFile != "" {
		if _, err := os.Stat(d.CAFile); err != nil {
			add("delivery.ca_file", "%v", err)
		}
	}
}
