package job

import (
	"strings"
	"testing"
)

func TestCheckName(t *testing.T) {
	for name, want := range map[string]string{
		"orders": "", "a-b_c9": "", "": "required", "Orders": "use lower-case letters",
		strings.Repeat("a", 64): "at most 63",
	} {
		err := CheckName(name)
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("CheckName(%q) = %v, want %q", name, err, want)
		}
	}
}
