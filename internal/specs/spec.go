package specs

import (
	"errors"
	"fmt"

	"github.com/dispatchd/dispatchd/internal/jsonpointer"
)

// problems collects the errors of one spec, each under its field's path.
type problems []error

func (ps *problems) add(path, format string, args ...any) {
	*ps = append(*ps, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
}

func (ps problems) err() error { return errors.Join(ps...) }

// pointerError says what is wrong with a JSON pointer to a field of the
// body (the whole body, "", is not a field).
func pointerError(p string) error {
	if p == "" {
		return errors.New("a JSON pointer starts with /")
	}
	_, err := jsonpointer.Parse(p)
	return err
}
