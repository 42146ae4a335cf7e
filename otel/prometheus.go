package otel

import (
	"context"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/otlptranslator"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"

	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
)

// endpoint is the Prometheus scrape endpoint: /metrics from the meter
// provider's Prometheus reader (the gauges of the latest report, and the
// totals with classic buckets), the process' own Go and process metrics,
// /-/healthy, /-/ready (once the first report is in) and POST /-/reload.
// TLS and basic auth come from the Prometheus ecosystem's web
// configuration file, read by exporter-toolkit.
type endpoint struct {
	exporter *otelprom.Exporter
	registry prometheus.Gatherer // the protobuf format's (and the text format's in tests)
	text     *textExposition
	metrics  http.Handler
	server   *http.Server
	opts     Prometheus
	log      *logger.Logger

	mu     sync.Mutex
	served chan error // the server's end
}

// errServed is how the server says it was shut down.
var errServed = http.ErrServerClosed

// CheckWebConfig reports whether the web configuration file can be read
// and used, so that a bad one is refused at start with nothing sent.
func CheckWebConfig(path string) error {
	if path == "" {
		return nil
	}
	if err := web.Validate(path); err != nil {
		return fmt.Errorf("--web-config %s: %w", path, err)
	}
	return nil
}

func newEndpoint(opts Prometheus, t *totals, log *logger.Logger) (*endpoint, error) {
	reg := prometheus.NewRegistry()
	view := &scrapeView{}
	exp, err := otelprom.New(
		otelprom.WithRegisterer(reg),
		otelprom.WithProducer(&producer{t: t, scrape: func() []*series { return view.series }}),
		// Prometheus' own names: dots to underscores, unit suffixes
		// (_seconds), _total on counters. The scope is this plugin's alone:
		// an otel_scope_name label on every series would say nothing.
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes),
		otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("prometheus: %w", err)
	}
	// The process' Go and process metrics, in both formats.
	runtime := prometheus.NewRegistry()
	runtime.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	e := &endpoint{exporter: exp, registry: nativeGatherer{reg: prometheus.Gatherers{reg, runtime}, t: t, v: view}, text: newTextExposition(t, runtime),
		opts: opts, log: log, served: make(chan error, 1)}
	e.metrics = e.metricsHandler()
	return e, nil
}

// serve serves until close; it returns errServed then, or why it failed.
func (e *endpoint) serve(ready *atomic.Bool, rl *reloads) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", e.metrics)
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "hping3-plugin is healthy.")
	})
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "hping3-plugin is not ready: no report yet.", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "hping3-plugin is ready.")
	})
	mux.HandleFunc("/-/reload", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost && r.Method != http.MethodPut {
			w.Header().Set("Allow", "POST, PUT")
			http.Error(w, "reload with POST (or PUT).", http.StatusMethodNotAllowed)
			return
		}
		if err := rl.request(r.Context()); err != nil {
			http.Error(w, fmt.Sprintf("reload refused, the previous configuration keeps running: %v", err), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "configuration reloaded.")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "hping3-plugin: metrics at /metrics")
	})
	e.mu.Lock()
	e.server = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		// The server's own complaints (a TLS handshake that failed, a
		// client that sent garbage) are the plugin's W! lines too.
		ErrorLog: stdlog.New(warnWriter{e.log}, "", 0)}
	e.mu.Unlock()
	cfg := e.opts.WebConfig
	flags := &web.FlagConfig{WebConfigFile: &cfg}
	err := web.Serve(e.opts.Listener, e.server, flags, slog.New(slogHandler{log: e.log}))
	e.served <- err
	return err
}

// maxScrapes is how many scrapes of each format /metrics serves at once;
// another is told to come back (503), as promhttp's MaxRequestsInFlight.
const maxScrapes = 4

// metricsHandler serves /metrics: the text format from the text
// exposition, gzipped when the scraper accepts gzip, at the fastest level
// of klauspost/compress's gzip (the standard library's default level took
// a third of a scrape's CPU, its fastest level still a quarter, for a body
// hardly smaller); the protobuf format, which a Prometheus with native
// histograms asks for, through promhttp from the exporter's registry.
func (e *endpoint) metricsHandler() http.Handler {
	proto := promhttp.HandlerFor(e.registry, promhttp.HandlerOpts{
		ErrorLog:            slogError{e.log},
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: maxScrapes,
	})
	inFlight := make(chan struct{}, maxScrapes)
	gzips := sync.Pool{New: func() any {
		w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
		return w
	}}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		format := expfmt.NegotiateAccept(r.Header, expfmt.DefaultAcceptedFormats()...)
		if format.FormatType() != expfmt.TypeTextPlain {
			proto.ServeHTTP(w, r)
			return
		}
		select {
		case inFlight <- struct{}{}:
			defer func() { <-inFlight }()
		default:
			http.Error(w, fmt.Sprintf("Limit of concurrent requests reached (%d), try again later.", maxScrapes), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", string(format))
		w.Header().Add("Vary", "Accept-Encoding")
		var out io.Writer = w
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			w.Header().Set("Content-Encoding", "gzip")
			gz := gzips.Get().(*gzip.Writer)
			gz.Reset(w)
			defer func() {
				gz.Close()
				gzips.Put(gz)
			}()
			out = gz
		}
		bw := newBufWriter(out)
		err := e.text.write(r.Context(), bw)
		if ferr := bw.Flush(); err == nil && ferr != nil {
			return // the scraper went away
		}
		if err != nil {
			e.log.Errorf("prometheus endpoint: %v", err)
		}
	})
}

// acceptsGzip reports whether an Accept-Encoding header takes gzip with a
// q above 0: named, or else as * (a named coding's q overrides *'s).
func acceptsGzip(header string) bool {
	named, star := -1.0, -1.0
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(part, ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding != "gzip" && coding != "*" {
			continue
		}
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(k, "q") {
				if f, err := strconv.ParseFloat(v, 64); err == nil {
					q = f
				}
			}
		}
		if coding == "gzip" {
			named = q
		} else {
			star = q
		}
	}
	if named >= 0 {
		return named > 0
	}
	return star > 0
}

// close stops the server, giving requests in flight budget to end.
func (e *endpoint) close(budget time.Duration) error {
	e.mu.Lock()
	srv := e.server
	e.mu.Unlock()
	if srv == nil {
		e.opts.Listener.Close()
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	if srv.Shutdown(ctx) != nil {
		// A request still running (a slow scraper) is cut off: stopping
		// on time matters more, and is no failure of the endpoint.
		srv.Close()
	}
	if err := <-e.served; err != nil && !errors.Is(err, errServed) {
		return err
	}
	return nil
}

// slogHandler writes exporter-toolkit's log records as the plugin's lines:
// errors as E!, warnings as W!, the rest as I! (D! for debug).
type slogHandler struct {
	log   *logger.Logger
	attrs []slog.Attr
}

func (h slogHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || h.log.DebugEnabled()
}

func (h slogHandler) Handle(_ context.Context, r slog.Record) error {
	msg := "prometheus endpoint: " + r.Message
	add := func(a slog.Attr) bool {
		msg += fmt.Sprintf(" %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	switch {
	case r.Level >= slog.LevelError:
		h.log.Errorf("%s", msg)
	case r.Level >= slog.LevelWarn:
		h.log.Warnf("%s", msg)
	case r.Level >= slog.LevelInfo:
		h.log.Infof("%s", msg)
	default:
		h.log.Debugf("%s", msg)
	}
	return nil
}

func (h slogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return slogHandler{log: h.log, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h slogHandler) WithGroup(string) slog.Handler { return h }

// warnWriter writes each line of net/http's log as a W! line.
type warnWriter struct{ log *logger.Logger }

func (w warnWriter) Write(p []byte) (int, error) {
	w.log.Warnf("prometheus endpoint: %s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// slogError is promhttp's error log: a scrape that could not gather
// everything is an E! line.
type slogError struct{ log *logger.Logger }

func (s slogError) Println(v ...any) { s.log.Errorf("prometheus endpoint: %s", fmt.Sprint(v...)) }
