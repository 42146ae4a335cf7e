// The .deb and .rpm packages, made with nfpm as a library from
// packaging/nfpm.yaml.

package dist

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/files"
)

// PackageFileName is the conventional name nfpm gives the package of format
// for version and arch (Go's name), e.g. hping3-plugin_1.2.0-1_amd64.deb and
// hping3-plugin-1.2.0-1.x86_64.rpm.
func PackageFileName(root, format, version, arch string) (string, error) {
	info, err := packageInfo(root, format, version, arch, "", "", time.Time{})
	if err != nil {
		return "", err
	}
	p, err := nfpm.Get(format)
	if err != nil {
		return "", err
	}
	return p.ConventionalFileName(info), nil
}

// packageInfo reads packaging/nfpm.yaml for one package.
func packageInfo(root, format, version, arch, stage, conf string, mtime time.Time) (*nfpm.Info, error) {
	vars := map[string]string{"VERSION": version, "ARCH": arch, "STAGE": stage, "CONF": conf}
	f, err := os.Open(filepath.Join(root, NfpmConfig))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var unknown []string
	cfg, err := nfpm.ParseWithEnvMapping(f, func(k string) string {
		v, ok := vars[k]
		// nfpm itself asks for NFPM_*_PASSPHRASE, for signing: none.
		if !ok && !strings.HasPrefix(k, "NFPM_") {
			unknown = append(unknown, k)
		}
		return v
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", NfpmConfig, err)
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("%s: unknown variables %v (the builder sets VERSION, ARCH, STAGE and CONF)", NfpmConfig, unknown)
	}
	info, err := cfg.Get(format)
	if err != nil {
		return nil, err
	}
	info.Target = ""
	if !mtime.IsZero() {
		info.MTime = mtime
	}
	// Repository paths are relative to the root, whatever the directory.
	for _, c := range info.Contents {
		if strings.Contains(c.Source, "$") || strings.Contains(c.Destination, "$") {
			return nil, fmt.Errorf("%s: %s -> %s: a variable left unexpanded (expand: true?)", NfpmConfig, c.Source, c.Destination)
		}
		if c.Source != "" && !filepath.IsAbs(c.Source) {
			c.Source = filepath.Join(root, c.Source)
		}
		if c.FileInfo == nil {
			c.FileInfo = &files.ContentFileInfo{}
		}
		if !mtime.IsZero() {
			c.FileInfo.MTime = mtime
		}
	}
	for _, s := range []*string{&info.Scripts.PreInstall, &info.Scripts.PostInstall, &info.Scripts.PreRemove, &info.Scripts.PostRemove} {
		if *s != "" && !filepath.IsAbs(*s) {
			*s = filepath.Join(root, *s)
		}
	}
	return info, nil
}

func writePackage(root, out, format, arch, version, stage, conf string, mtime time.Time) (string, error) {
	info, err := packageInfo(root, format, version, arch, stage, conf, mtime)
	if err != nil {
		return "", err
	}
	p, err := nfpm.Get(format)
	if err != nil {
		return "", err
	}
	// The name first: Package rewrites some of info for its format.
	name := p.ConventionalFileName(info)
	info, err = packageInfo(root, format, version, arch, stage, conf, mtime)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := p.Package(info, &buf); err != nil {
		return "", err
	}
	return name, os.WriteFile(filepath.Join(out, name), buf.Bytes(), 0o644)
}

// packagedConf is /etc/hping3-plugin/hping3-plugin.conf: a header saying
// where it is and who reads it, then the example, with the example's own
// suggested path replaced by the package's.
func packagedConf(root string) ([]byte, error) {
	head, err := os.ReadFile(filepath.Join(root, ConfHeader))
	if err != nil {
		return nil, err
	}
	ex, err := os.ReadFile(filepath.Join(root, Example))
	if err != nil {
		return nil, err
	}
	ex = bytes.ReplaceAll(ex, []byte("/etc/hping3-plugin.conf"), []byte("/etc/hping3-plugin/hping3-plugin.conf"))
	return append(head, ex...), nil
}
