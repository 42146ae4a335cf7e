package otel

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
)

// Reload metrics, as Prometheus names its own
// (prometheus_config_last_reload_successful and
// prometheus_config_last_reload_success_timestamp_seconds), so that the
// alert people already have for Prometheus fits the prober too.
const (
	nameReloadOK   = "hping3.config.last_reload_successful"
	nameReloadTime = "hping3.config.last_reload_success_timestamp"
)

// errNoReload answers a reload request where there is no reload;
// errStopping one that comes while the plugin stops.
var (
	errNoReload = errors.New("this mode does not reload its configuration")
	errStopping = errors.New("the plugin is stopping")
)

// reloads runs the reloads one at a time, whoever asks (SIGHUP, a
// targets file, POST /-/reload), logs each outcome and reports the last
// as two gauges.
type reloads struct {
	reload func() error
	log    *logger.Logger
	asks   chan chan error
	ended  chan struct{} // closed when run returns: no reload after that

	mu     sync.Mutex
	ok     bool
	lastOK time.Time // the start counts as the first successful load
}

// vantage gives the vantage of the moment: the gauges carry it, as the
// plugin's other own metrics do, so that many plugins' stay apart.
func newReloads(m metric.Meter, reload func() error, vantage func() string, log *logger.Logger) (*reloads, error) {
	r := &reloads{reload: reload, log: log, asks: make(chan chan error), ended: make(chan struct{}), ok: true, lastOK: time.Now()}
	ok, err := m.Int64ObservableGauge(nameReloadOK, metric.WithUnit(""),
		metric.WithDescription("Whether the last configuration reload succeeded (1) or was refused (0, the previous configuration keeps running)."))
	if err != nil {
		return nil, err
	}
	at, err := m.Float64ObservableGauge(nameReloadTime, metric.WithUnit(unitSeconds),
		metric.WithDescription("When the configuration was last loaded successfully (at start or by a reload), in seconds since the Unix epoch."))
	if err != nil {
		return nil, err
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		v := int64(0)
		if r.ok {
			v = 1
		}
		var set []metric.ObserveOption
		if vt := vantage(); vt != "" {
			set = append(set, metric.WithAttributes(attribute.String(config.VantageTag, vt)))
		}
		o.ObserveInt64(ok, v, set...)
		o.ObserveFloat64(at, float64(r.lastOK.UnixNano())/1e9, set...)
		return nil
	}, ok, at)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// run carries out the reloads asked through signals (one at a time; asks
// that come while one runs are one more reload) and through request.
func (r *reloads) run(ctx context.Context, signals <-chan struct{}) {
	defer close(r.ended)
	for {
		select {
		case <-ctx.Done():
			return
		case <-signals:
			r.do()
		case reply := <-r.asks:
			reply <- r.do()
		}
	}
}

// request asks for a reload and waits for its outcome (POST /-/reload).
func (r *reloads) request(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case r.asks <- reply:
	case <-ctx.Done():
		return ctx.Err()
	case <-r.ended:
		return errStopping
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *reloads) do() error {
	if r.reload == nil {
		return errNoReload
	}
	err := r.reload()
	r.mu.Lock()
	r.ok = err == nil
	if err == nil {
		r.lastOK = time.Now()
	}
	r.mu.Unlock()
	if err != nil {
		r.log.Errorf("reload refused, the previous configuration keeps running: %v", err)
	}
	return err // (a reload that worked says what it runs: Reload's I! line)
}
