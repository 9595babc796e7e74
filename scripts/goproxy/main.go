// Command goproxy writes one version of a Go module into a module proxy on disk, in the layout
// the GOPROXY protocol names ($module/@v/list, $version.info, $version.mod, $version.zip), so
// that `GOPROXY=file://DIR go get module@version` fetches it as it would a published module.
// libjwks's release pipeline uses it for bindings/go (module libjwks.dev/jwks); publishing the
// module is copying that directory to any static web server.
//
//	go run ./scripts/goproxy -dir bindings/go -version v0.1.0 -out target/goproxy
//
// The zip is made by golang.org/x/mod/zip, the go command's own module zip code: it leaves out
// nested modules (bindings/go/jwtkeyfunc and bindings/go/bench have their own go.mod) and
// refuses files a module may not hold.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
	modzip "golang.org/x/mod/zip"
)

func main() {
	dir := flag.String("dir", "", "the module's root directory (holding its go.mod)")
	version := flag.String("version", "", "the version to publish, e.g. v0.1.0")
	out := flag.String("out", "", "the proxy directory to write into (created if missing)")
	flag.Parse()
	if *dir == "" || *version == "" || *out == "" || flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	path, err := publish(*dir, *version, *out, time.Now().UTC())
	if err != nil {
		fmt.Fprintln(os.Stderr, "goproxy:", err)
		os.Exit(1)
	}
	fmt.Println(path)
}

// publish writes version of the module in dir into the proxy at out and returns the
// directory it wrote (out/<escaped module path>/@v).
func publish(dir, version, out string, at time.Time) (string, error) {
	if !semver.IsValid(version) || semver.Canonical(version) != version {
		return "", fmt.Errorf("%q is not a canonical semantic version (vMAJOR.MINOR.PATCH)", version)
	}
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return "", err
	}
	modPath := modfile.ModulePath(gomod)
	if modPath == "" {
		return "", fmt.Errorf("%s/go.mod names no module", dir)
	}
	mv := module.Version{Path: modPath, Version: version}
	if err := module.Check(mv.Path, mv.Version); err != nil {
		return "", err
	}
	escPath, err := module.EscapePath(mv.Path)
	if err != nil {
		return "", err
	}
	escVersion, err := module.EscapeVersion(mv.Version)
	if err != nil {
		return "", err
	}
	vdir := filepath.Join(out, filepath.FromSlash(escPath), "@v")
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		return "", err
	}

	// The zip first, into a temporary name: a module that cannot be zipped leaves no version.
	zipPath := filepath.Join(vdir, escVersion+".zip")
	tmp, err := os.CreateTemp(vdir, ".zip-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if err := modzip.CreateFromDir(tmp, mv, dir); err != nil {
		tmp.Close()
		return "", fmt.Errorf("zip %s: %w", dir, err)
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), zipPath); err != nil {
		return "", err
	}

	if err := os.WriteFile(filepath.Join(vdir, escVersion+".mod"), gomod, 0o644); err != nil {
		return "", err
	}
	info, err := json.Marshal(struct {
		Version string
		Time    string
	}{version, at.Format(time.RFC3339)})
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(vdir, escVersion+".info"), append(info, '\n'), 0o644); err != nil {
		return "", err
	}
	return vdir, writeList(filepath.Join(vdir, "list"), version)
}

// writeList adds version to the proxy's list of versions, kept in semantic-version order.
func writeList(path, version string) error {
	var versions []string
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, v := range strings.Fields(string(old)) {
		if v != version {
			versions = append(versions, v)
		}
	}
	versions = append(versions, version)
	sort.Slice(versions, func(i, j int) bool { return semver.Compare(versions[i], versions[j]) < 0 })
	return os.WriteFile(path, []byte(strings.Join(versions, "\n")+"\n"), 0o644)
}
