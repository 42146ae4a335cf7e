// The release version: given by hand, or read from git describe.

package dist

import (
	"fmt"
	"regexp"
	"strings"
)

var semverRE = regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z]+(\.[0-9A-Za-z]+)*)?(\+[0-9A-Za-z]+(\.[0-9A-Za-z]+)*)?$`)

// CheckVersion returns a version given by hand (make dist VERSION=...)
// without a leading "v", or an error unless it is semantic versioning:
// MAJOR.MINOR.PATCH, then optionally -PRERELEASE and +METADATA, in letters,
// digits and dots only, which nfpm turns into valid deb and rpm versions.
func CheckVersion(v string) (string, error) {
	v = strings.TrimPrefix(v, "v")
	if !semverRE.MatchString(v) {
		return "", fmt.Errorf("version %q: want MAJOR.MINOR.PATCH[-PRERELEASE][+METADATA] of letters, digits and dots, e.g. 1.2.0 or 1.3.0-rc1", v)
	}
	return v, nil
}

var describeRE = regexp.MustCompile(`^(?:v(.+?)-([0-9]+)-g([0-9a-f]+)|v(.+?)|([0-9a-f]+))(-dirty)?$`)

// VersionFromDescribe turns `git describe --tags --match 'v[0-9]*' --always
// --dirty` into the release version:
//
//	v1.2.0                   1.2.0
//	v1.3.0-rc1               1.3.0-rc1 (the packages say 1.3.0~rc1, before 1.3.0)
//	v1.2.0-5-g0123456789ab   1.2.0+5.g0123456789ab (5 commits after v1.2.0)
//	0123456789ab             0.0.0+g0123456789ab (no release tag yet)
//
// and ".dirty" (or "+dirty") for uncommitted changes to tracked files.
func VersionFromDescribe(d string) (string, error) {
	m := describeRE.FindStringSubmatch(strings.TrimSpace(d))
	if m == nil {
		return "", fmt.Errorf("git describe said %q: want vMAJOR.MINOR.PATCH tags", d)
	}
	var v string
	var meta []string
	switch {
	case m[1] != "":
		v = m[1]
		meta = append(meta, m[2], "g"+m[3])
	case m[4] != "":
		v = m[4]
	default:
		v = "0.0.0"
		meta = append(meta, "g"+m[5])
	}
	if m[6] != "" {
		meta = append(meta, "dirty")
	}
	if len(meta) > 0 {
		if strings.Contains(v, "+") {
			return "", fmt.Errorf("tag v%s: a release tag carries no +METADATA", v)
		}
		v += "+" + strings.Join(meta, ".")
	}
	return CheckVersion(v)
}
