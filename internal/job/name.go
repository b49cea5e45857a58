package job

import (
	"errors"
	"fmt"
	"regexp"
)

// namePattern is what names sources, endpoints and schedules: they go in
// URLs (/v1/webhooks/{source}) and logs.
var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// CheckName reports whether name can name a source, an endpoint or a
// schedule.
func CheckName(name string) error {
	if name == "" {
		return errors.New("required")
	}
	if !namePattern.MatchString(name) {
		return fmt.Errorf("%q: use lower-case letters, digits, - and _ (at most 63, starting with a letter or digit)", name)
	}
	return nil
}
