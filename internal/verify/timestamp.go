package verify

import (
	"errors"
	"strconv"
	"time"
)

// maxUnixDigits bounds a timestamp so that it always fits an int64 and
// time.Unix never overflows; 18 digits is far beyond any real date.
const maxUnixDigits = 18

// parseUnix parses whole unix seconds written in canonical decimal: digits
// only, no sign, no leading zeros. Being strict means the integer formats
// back to exactly the bytes the sender signed, so signing the parsed value
// and signing the raw header agree.
func parseUnix(s string) (int64, error) {
	switch {
	case s == "":
		return 0, errors.New("empty")
	case len(s) > maxUnixDigits:
		return 0, errors.New("too many digits")
	case len(s) > 1 && s[0] == '0':
		return 0, errors.New("leading zero")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errors.New("not a decimal integer")
		}
	}
	// Cannot fail: at most 18 digits, all decimal.
	return strconv.ParseInt(s, 10, 64)
}

// checkAge rejects a timestamp more than tolerance before or after now. The
// message says by how much, so a sender can tell a stale replay from a
// skewed clock.
func checkAge(name string, unix int64, now time.Time, tolerance time.Duration) error {
	sent := time.Unix(unix, 0)
	// A value this large is almost certainly milliseconds, a common mix-up.
	hint := ""
	if unix >= 1e12 {
		hint = " (it looks like milliseconds; send seconds)"
	}
	if age := now.Sub(sent); age > tolerance {
		return reject(ErrExpired, "%s is %v in the past; the tolerance is %v%s",
			name, age.Truncate(time.Second), tolerance, hint)
	}
	// Computed from sent, not as -age, because Sub saturates and negating the
	// smallest duration overflows.
	if ahead := sent.Sub(now); ahead > tolerance {
		return reject(ErrExpired, "%s is %v in the future; the tolerance is %v: check the sender's clock%s",
			name, ahead.Truncate(time.Second), tolerance, hint)
	}
	return nil
}
