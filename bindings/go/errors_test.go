package jwks_test

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"libjwks.dev/jwks"
)

// The Go status table is checked against the C header: every status the header defines
// (JWKS_PENDING aside, which never reaches Go callers) has its Status constant, with the
// header's value and name, and every error status has its Err sentinel.
func TestStatusTableMatchesTheHeader(t *testing.T) {
	header, err := os.ReadFile("../../include/jwks.h")
	if err != nil {
		t.Fatal(err)
	}
	source, err := os.ReadFile("errors.go")
	if err != nil {
		t.Fatal(err)
	}
	enum := regexp.MustCompile(`(?m)^\s+(JWKS_(?:OK|ERR_[A-Z_]+)) = (\d+),`).FindAllSubmatch(header, -1)
	if len(enum) < 29 {
		t.Fatalf("found %d statuses in the header", len(enum))
	}
	for _, m := range enum {
		name := string(m[1])
		value, _ := strconv.Atoi(string(m[2]))
		if got := jwks.Status(value).String(); got != name {
			t.Errorf("Status(%d).String() = %q, want %q", value, got, name)
		}
		if !strings.Contains(string(source), "= C."+name+"\n") {
			t.Errorf("errors.go has no Status constant for %s", name)
		}
		if name == "JWKS_OK" {
			continue
		}
		goName := "Err"
		for _, word := range strings.Split(strings.TrimPrefix(name, "JWKS_ERR_"), "_") {
			goName += word[:1] + strings.ToLower(word[1:])
		}
		if !regexp.MustCompile(`(?i)\b` + goName + `\s+= sentinel\(`).Match(source) {
			t.Errorf("errors.go has no sentinel for %s (%s)", name, goName)
		}
	}
}
