package site24x7

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/core"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// stuck is a round that ignores its context until released.
type stuck struct{ release chan struct{} }

func (s stuck) Run(ctx context.Context) core.Report {
	<-s.release
	return core.Report{Results: []probe.Result{{Code: probe.OK}}}
}

// prompt is a round that stops as soon as its context ends.
type prompt struct{}

func (prompt) Run(ctx context.Context) core.Report {
	<-ctx.Done()
	return core.Report{Results: []probe.Result{{Code: probe.Failed, Err: errors.New("probe cancelled")}}}
}

func TestRunRoundGivesUpOnAStuckRound(t *testing.T) {
	s := stuck{release: make(chan struct{})}
	defer close(s.release)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	results, err := runRound(ctx, s, 20*time.Millisecond)
	if results != nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("runRound = %v, %v; want no results and the deadline", results, err)
	}
}

func TestRunRoundKeepsAStoppedRound(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	results, err := runRound(ctx, prompt{}, time.Minute)
	if len(results) != 1 || results[0].Code != probe.Failed || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("runRound = %v, %v; want the cancelled result and the deadline", results, err)
	}
}

func TestMainConfigErrorIsJSON(t *testing.T) {
	var stdout, stderr bytes.Buffer
	rc := Main([]string{"--site24x7", "--host", "localhost", "--plugin-version", "7", "--heartbeat", "False", "--protocol", "sctp"}, &stdout, &stderr)
	if rc != 0 {
		t.Fatalf("exit status %d, want 0 (the agent shows only JSON)", rc)
	}
	var m map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &m); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout.Bytes())
	}
	msg, _ := m["msg"].(string)
	if m["status"] != 0.0 || !strings.Contains(msg, `invalid protocol = "sctp"`) {
		t.Errorf("status %v msg %q", m["status"], msg)
	}
	if m["plugin_version"] != 7.0 || m["heartbeat_required"] != false {
		t.Errorf("header plugin_version %v heartbeat_required %v, want 7 and false", m["plugin_version"], m["heartbeat_required"])
	}
	if !strings.HasPrefix(stderr.String(), "E! localhost: invalid configuration") {
		t.Errorf("stderr %q", stderr.String())
	}
}

// A second mode exits 2, and still prints the Down JSON the agent reads,
// keyed to the monitor, with exactly one E! line on stderr.
func TestMainModeConflict(t *testing.T) {
	var stdout, stderr bytes.Buffer
	rc := Main([]string{"--site24x7", "--host", "db1", "--plugin_version=7", "--heartbeat", "False", "--once"}, &stdout, &stderr)
	if rc != 2 {
		t.Errorf("exit status %d, want 2", rc)
	}
	want := `{"host":"db1","plugin_version":7,"heartbeat_required":false,"status":0,"msg":"invalid configuration: --site24x7 and --once are two modes: --site24x7 already runs one round and prints it as JSON; drop --once (see hping3-plugin --help)"}` + "\n"
	if stdout.String() != want {
		t.Errorf("stdout\n%s\nwant\n%s", stdout.String(), want)
	}
	if got := stderr.String(); got != "E! db1: invalid configuration: --site24x7 and --once are two modes: --site24x7 already runs one round and prints it as JSON; drop --once (see hping3-plugin --help)\n" {
		t.Errorf("stderr %q", got)
	}
}
