package specs

import (
	"errors"
	"fmt"
	"strings"

	"github.com/dispatchd/dispatchd/internal/jsonpointer"
)

// problems collects the errors of one spec, each under its field's path.
type problems []error

func (ps *problems) add(path, format string, args ...any) {
	*ps = append(*ps, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
}

func (ps problems) err() error { return errors.Join(ps...) }

// HeaderName reports whether h is a header field name: an RFC 9110 token.
func HeaderName(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !alnum && !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return h != ""
}

// pointerError says what is wrong with a JSON pointer to a field of the
// body (the whole body, "", is not a field).
func pointerError(p string) error {
	if p == "" {
		return errors.New("a JSON pointer starts with /")
	}
	_, err := jsonpointer.Parse(p)
	return err
}
