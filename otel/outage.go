package otel

import (
	"sync"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
)

// outage turns export results into log lines a person can act on: one
// "E! " line when exporting starts failing, one "I! " line when it works
// again, instead of a line per failed export (every poll interval for as
// long as the Collector is away).
type outage struct {
	mu       sync.Mutex
	log      *logger.Logger
	now      func() time.Time
	down     bool
	since    time.Time
	failures int // exports failed in this outage
	dropped  int // rounds replaced before their export started, this outage or since the last report
	lastMsg  string
}

func newOutage(log *logger.Logger) *outage {
	return &outage{log: log, now: time.Now}
}

// failed records a failed export.
func (o *outage) failed(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failures++
	if o.down {
		return
	}
	o.down, o.since = true, o.now()
	o.log.Errorf("otlp: export failed: %v (further failures are not logged until an export succeeds)", err)
}

// succeeded records a successful export and reports the end of an outage.
func (o *outage) succeeded() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.down {
		o.log.Infof("otlp: export recovered after %s: %d exports failed, %d rounds were not exported",
			o.now().Sub(o.since).Round(time.Second), o.failures, o.dropped)
	} else if o.dropped > 0 {
		o.log.Warnf("otlp: exports are slower than the poll interval: %d rounds were replaced by newer ones before being exported", o.dropped)
	}
	o.down, o.failures, o.dropped = false, 0, 0
}

// skipped records a round replaced by a newer one before its export began.
func (o *outage) skipped() {
	o.mu.Lock()
	o.dropped++
	o.mu.Unlock()
}

// handle receives errors the OpenTelemetry SDK reports on its own (through
// go.opentelemetry.io/otel's Handle; Run installs it), such as a Collector's
// partial-success message. The same message is logged once, again only
// after a different one (a Collector may repeat its message with every
// export).
func (o *outage) handle(err error) {
	msg := err.Error()
	o.mu.Lock()
	defer o.mu.Unlock()
	if msg == o.lastMsg {
		return
	}
	o.lastMsg = msg
	o.log.Warnf("otlp: %s", msg)
}
