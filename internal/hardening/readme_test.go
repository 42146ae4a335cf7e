package hardening

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
)

// TestTroubleshootingCoversEveryLogMessage: every E!, W! and I! message the
// code can log has a row in the README's Troubleshooting table. The fixed
// text of each format string (up to its first verb) must appear there.
func TestTroubleshootingCoversEveryLogMessage(t *testing.T) {
	root := testbin.RepoRoot()
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(readme), "## Troubleshooting")
	if !ok {
		t.Fatal("README has no Troubleshooting section")
	}
	n := 0
	filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") ||
			strings.Contains(path, "/internal/") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			return nil
		}
		ast.Inspect(f, func(node ast.Node) bool {
			call, ok := node.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || (sel.Sel.Name != "Errorf" && sel.Sel.Name != "Warnf" && sel.Sel.Name != "Infof") {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); ok && (id.Name == "fmt" || id.Name == "t") {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok {
				return true
			}
			format, _ := strconv.Unquote(lit.Value)
			fixed, _, _ := strings.Cut(format, "%")
			fixed = strings.TrimSpace(fixed)
			n++
			if len(fixed) >= 4 && !strings.Contains(table, fixed) {
				rel, _ := filepath.Rel(root, path)
				t.Errorf("%s: log message %q has no row in README Troubleshooting", rel, format)
			}
			return true
		})
		return nil
	})
	if n < 10 {
		t.Errorf("found only %d log calls: the scan is broken", n)
	}
}
