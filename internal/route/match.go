package route

import (
	"errors"
	"fmt"
	"strings"
)

// Match reports whether an event type matches a subscription pattern.
// Both are dot-separated segments; a pattern segment "*" matches any one
// segment, and a last segment "*" also matches one or more (so "order.*"
// matches "order.created" and "order.line.added", not "order"). "*" alone
// matches every type.
func Match(pattern, eventType string) bool {
	if eventType == "" {
		return false
	}
	ps, ts := strings.Split(pattern, "."), strings.Split(eventType, ".")
	for i, p := range ps {
		if i == len(ps)-1 && p == "*" {
			return len(ts) >= len(ps)
		}
		if i >= len(ts) || (p != "*" && p != ts[i]) {
			return false
		}
	}
	return len(ts) == len(ps)
}

// CheckPattern reports what is wrong with a subscription pattern.
func CheckPattern(pattern string) error {
	if pattern == "" {
		return errors.New("the pattern is empty")
	}
	for _, seg := range strings.Split(pattern, ".") {
		if seg == "" {
			return fmt.Errorf("%q has an empty segment", pattern)
		}
		if seg != "*" && strings.Contains(seg, "*") {
			return fmt.Errorf("%q: a wildcard is a whole segment (\"order.*\", not \"order*\")", pattern)
		}
	}
	return nil
}

// CheckType reports what is wrong with an event type name: dot-separated
// non-empty segments without wildcards or spaces, at most 200 bytes.
func CheckType(name string) error {
	switch {
	case name == "":
		return errors.New("the type is empty")
	case len(name) > 200:
		return fmt.Errorf("the type is %d bytes; at most 200", len(name))
	case strings.ContainsAny(name, "* \t\r\n"):
		return fmt.Errorf("type %q has a wildcard or a space", name)
	}
	for _, seg := range strings.Split(name, ".") {
		if seg == "" {
			return fmt.Errorf("type %q has an empty segment", name)
		}
	}
	return nil
}
