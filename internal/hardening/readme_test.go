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

// troubleshootingDoc is the user documentation's table of log messages.
const troubleshootingDoc = "docs/troubleshooting.md"

// TestTroubleshootingCoversEveryLogMessage: every E!, W! and I! message the
// code can log has a row in docs/troubleshooting.md. Every fixed piece of
// the format string (the text between its verbs) must appear in one and the
// same row, in order, so a message whose later text changes is caught too.
func TestTroubleshootingCoversEveryLogMessage(t *testing.T) {
	root := testbin.RepoRoot()
	doc, err := os.ReadFile(filepath.Join(root, troubleshootingDoc))
	if err != nil {
		t.Fatal(err)
	}
	rows := tableRows(string(doc))
	if len(rows) < 10 {
		t.Fatalf("%s has only %d table rows: the table is missing or malformed", troubleshootingDoc, len(rows))
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
			n++
			pieces := fixedPieces(format)
			if !meaningful(pieces) {
				return true // e.g. "%v": the message is another one's, checked there
			}
			if rowFor(rows, pieces) < 0 {
				rel, _ := filepath.Rel(root, path)
				t.Errorf("%s: log message %q has no row in %s quoting all of %q", rel, format, troubleshootingDoc, pieces)
			}
			return true
		})
		return nil
	})
	if n < 10 {
		t.Errorf("found only %d log calls: the scan is broken", n)
	}
}

// TestTroubleshootingRowMatching: the matcher itself. A row must quote every
// fixed piece of a format, in order; a row whose later text differs from
// the message, or that quotes the pieces across two rows, does not count.
func TestTroubleshootingRowMatching(t *testing.T) {
	rows := tableRows("| message | meaning |\n|---|---|\n" +
		"| `E! target \"X\": hping3 did not finish within Ns and was killed` | hung |\n" +
		"| `W! round took Ns, longer than poll_interval Ms: polls were skipped` | slow |\n" +
		"| `W! first half` | split |\n| `second half` | split |\n")
	for _, c := range []struct {
		format string
		want   bool
	}{
		{"target %q: hping3 did not finish within %v and was killed", true},
		{"round took %v, longer than poll_interval %v: polls were skipped", true},
		{"round took %v, longer than poll_interval %v: polls that fell due meanwhile were skipped", false}, // later text changed
		{"round took %v, shorter than poll_interval %v: polls were skipped", false},                        // middle text changed
		{"hping3 did not finish within %v and was killed: target %q", false},                               // pieces out of order
		{"first half %d second half", false},                                                               // across two rows
		{"100%% of %s: hung", false},
	} {
		pieces := fixedPieces(c.format)
		if got := rowFor(rows, pieces) >= 0; got != c.want {
			t.Errorf("%q (pieces %q): matched %v, want %v", c.format, pieces, got, c.want)
		}
	}
	for format, want := range map[string][]string{
		"target %q: %v":               {"target", ":"},
		"a %-5.2f b %[1]d c %*d d %%": {"a", "b", "c", "d %"},
		"%v":                          nil,
		"no verbs at all":             {"no verbs at all"},
		"took %.1fms, over %s":        {"took", "ms, over"},
	} {
		if got := fixedPieces(format); strings.Join(got, "\x00") != strings.Join(want, "\x00") {
			t.Errorf("fixedPieces(%q) = %q, want %q", format, got, want)
		}
	}
}

// tableRows returns the lines of doc that are rows of a Markdown table.
func tableRows(doc string) []string {
	var rows []string
	for _, l := range strings.Split(doc, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "|") {
			rows = append(rows, l)
		}
	}
	return rows
}

// fixedPieces splits a format string at its verbs and returns the text
// between them, trimmed, without empty pieces; %% is a literal percent.
func fixedPieces(format string) []string {
	var pieces []string
	var cur strings.Builder
	flush := func() {
		if s := strings.TrimSpace(cur.String()); s != "" {
			pieces = append(pieces, s)
		}
		cur.Reset()
	}
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			cur.WriteByte(format[i])
			continue
		}
		if i+1 < len(format) && format[i+1] == '%' {
			cur.WriteByte('%')
			i++
			continue
		}
		// A verb: flags, an argument index, width, precision, then a letter.
		j := i + 1
		for j < len(format) && strings.IndexByte("+-# 0123456789.*[]", format[j]) >= 0 {
			j++
		}
		i = j // the verb letter itself
		flush()
	}
	flush()
	return pieces
}

// meaningful reports whether pieces say enough to identify a message: at
// least one piece of four characters or more.
func meaningful(pieces []string) bool {
	for _, p := range pieces {
		if len(p) >= 4 {
			return true
		}
	}
	return false
}

// rowFor returns the index of the first row that holds every piece in
// order, or -1.
func rowFor(rows []string, pieces []string) int {
next:
	for i, row := range rows {
		rest := row
		for _, p := range pieces {
			k := strings.Index(rest, p)
			if k < 0 {
				continue next
			}
			rest = rest[k+len(p):]
		}
		return i
	}
	return -1
}
