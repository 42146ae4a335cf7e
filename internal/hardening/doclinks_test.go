package hardening

import (
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
)

// The documentation the packages ship beside the binary
// (packaging/nfpm.yaml): README.md, LICENSE, docs/ and examples/, under
// /usr/share/doc/hping3-plugin. Its links must work there as in the
// repository.
var (
	// mdLink is a Markdown link's target.
	mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	// heading is a Markdown heading; anchor an HTML anchor.
	heading = regexp.MustCompile(`(?m)^#{1,6} +(.+?) *$`)
	anchor  = regexp.MustCompile(`<a id="([^"]+)">`)
	// repoPath is a repository path a doc names in code: a file or folder
	// of the project, before any ":line".
	repoPath = regexp.MustCompile("`((?:plugin|otel|cmd|internal|examples|docs|packaging)/[A-Za-z0-9_./-]*[A-Za-z0-9_/]|Containerfile|Makefile|go\\.mod)(?::[0-9-]+)?`")
	// packagePath is a path the package owns: its binary, unit and docs
	// (under /etc/hping3-plugin/ the administrator adds files of its own).
	packagePath = regexp.MustCompile(`(/usr/share/doc/hping3-plugin|/usr/bin/hping3-plugin|/usr/lib/systemd/system/hping3-plugin)[A-Za-z0-9_./-]*[A-Za-z0-9_/]`)
)

// slug is GitHub's anchor for a heading: lower case, code marks and
// punctuation dropped, spaces as hyphens.
func slug(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9'):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// shippedDocs are the repository's Markdown files the packages ship.
func shippedDocs(t *testing.T, root string) []string {
	t.Helper()
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files := []string{"README.md"}
	for _, d := range docs {
		files = append(files, filepath.ToSlash(must(filepath.Rel(root, d))))
	}
	return files
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestDocLinks: every relative link in README.md and docs/ names a file of
// what the packages ship (so it works in /usr/share/doc/hping3-plugin as in
// the repository), and an anchor a heading of that file; every repository
// path a doc names in code exists; every path of the package's binary,
// unit and docs is one the package installs. Host paths (/usr/sbin/hping3,
// /proc, files an administrator adds under /etc) are not its business.
func TestDocLinks(t *testing.T) {
	root := testbin.RepoRoot()
	shipped := func(rel string) bool {
		return rel == "README.md" || rel == "LICENSE" || strings.HasPrefix(rel, "docs/") || strings.HasPrefix(rel, "examples/")
	}
	anchors := map[string][]string{}
	anchorsOf := func(rel string) []string {
		if a, ok := anchors[rel]; ok {
			return a
		}
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			return nil
		}
		var out []string
		inFence := false
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "```") {
				inFence = !inFence
			}
			if m := heading.FindStringSubmatch(l); m != nil && !inFence {
				out = append(out, slug(m[1]))
			}
			for _, m := range anchor.FindAllStringSubmatch(l, -1) {
				out = append(out, m[1])
			}
		}
		anchors[rel] = out
		return out
	}
	installed := packageFiles(t, root)
	for _, doc := range shippedDocs(t, root) {
		b, err := os.ReadFile(filepath.Join(root, doc))
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		for _, m := range mdLink.FindAllStringSubmatch(text, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, anchor, _ := strings.Cut(target, "#")
			rel := doc
			if file != "" {
				rel = path.Clean(path.Join(path.Dir(doc), file))
			}
			st, err := os.Stat(filepath.Join(root, rel))
			switch {
			case err != nil:
				t.Errorf("%s: link %s: %s does not exist", doc, target, rel)
				continue
			case !shipped(rel):
				t.Errorf("%s: link %s: %s is not shipped with the docs (README.md, LICENSE, docs/, examples/): name it in code instead", doc, target, rel)
			}
			if anchor != "" && !st.IsDir() && strings.HasSuffix(rel, ".md") && !slices.Contains(anchorsOf(rel), anchor) {
				t.Errorf("%s: link %s: %s has no heading #%s", doc, target, rel, anchor)
			}
		}
		for _, m := range repoPath.FindAllStringSubmatch(text, -1) {
			p := m[1]
			// A package's identifier (internal/testbin.TelegrafVersion)
			// names the package.
			if i := strings.LastIndexByte(p, '.'); i > 0 && i+1 < len(p) && p[i+1] >= 'A' && p[i+1] <= 'Z' {
				p = p[:i]
			}
			if _, err := os.Stat(filepath.Join(root, p)); err != nil {
				t.Errorf("%s: names %s, which the repository does not have", doc, p)
			}
		}
		for _, p := range packagePath.FindAllString(text, -1) {
			p = strings.TrimSuffix(p, "/")
			if !installed[p] {
				t.Errorf("%s: names %s, which the package does not install", doc, p)
			}
		}
	}
}

// packageFiles are the paths packaging/nfpm.yaml installs, with every
// directory above them, the trees (docs/, examples/) file by file.
func packageFiles(t *testing.T, root string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "packaging", "nfpm.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	add := func(p string) {
		for ; p != "/" && p != "."; p = path.Dir(p) {
			out[p] = true
		}
	}
	dsts := regexp.MustCompile(`(?m)^ +dst: (\S+)`).FindAllStringSubmatch(string(b), -1)
	for _, m := range dsts {
		add(m[1])
	}
	for _, tree := range []string{"docs", "examples"} {
		dst := "/usr/share/doc/hping3-plugin/" + tree
		if !out[dst] {
			t.Fatalf("packaging/nfpm.yaml installs no %s", dst)
		}
		err := filepath.WalkDir(filepath.Join(root, tree), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				add("/usr/share/doc/hping3-plugin/" + filepath.ToSlash(must(filepath.Rel(root, p))))
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(out) < 10 {
		t.Fatalf("packaging/nfpm.yaml gave %d paths: %v", len(out), out)
	}
	return out
}

// TestReadmeIsAFrontPage: README.md stays a short front page (what it is,
// install, one example per front end, links); reference material goes to
// docs/.
func TestReadmeIsAFrontPage(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testbin.RepoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n >= 150 {
		t.Errorf("README.md has %d lines, want under 150: move reference material to docs/", n)
	}
}
