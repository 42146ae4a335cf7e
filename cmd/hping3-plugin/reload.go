package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/core"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
)

// watchEvery is how often the targets files are looked at for a change.
var watchEvery = 2 * time.Second

// reloader re-reads the configuration (the --config file, the flags, and
// the targets files) and hands it to the running source.
type reloader struct {
	build func() (*config.Config, error)
	src   core.Source
	log   *logger.Logger

	mu  sync.Mutex
	cfg *config.Config // the configuration running
}

func newReloader(cfg *config.Config, build func() (*config.Config, error), src core.Source, log *logger.Logger) *reloader {
	return &reloader{build: build, src: src, log: log, cfg: cfg}
}

// reload takes the configuration as it is now, or refuses it with every
// reason on one line; the running one then goes on unchanged. A reload may
// change targets and table settings, not what the process was started as:
// the mode flags and listen address are flags, which a reload does not
// read again, and mode and poll_interval shape the front end's schedule.
func (r *reloader) reload() error {
	cfg, err := r.build()
	if err != nil {
		return oneLine(err)
	}
	r.mu.Lock()
	old := r.cfg
	r.mu.Unlock()
	if cfg.PollInterval != old.PollInterval {
		return fmt.Errorf("poll_interval changed from %v to %v: a restart applies it", old.PollInterval, cfg.PollInterval)
	}
	rl, ok := r.src.(core.Reloader)
	if !ok {
		return errors.New("this source cannot reload")
	}
	if err := rl.Reload(cfg); err != nil {
		return err
	}
	r.mu.Lock()
	r.cfg = cfg
	r.mu.Unlock()
	n := r.src.Targets()
	r.log.Infof("reload: %d %s from %s", n, plural(n, "target"), describe(cfg))
	return nil
}

func describe(cfg *config.Config) string {
	if files := cfg.TargetsFiles(); len(files) > 0 {
		return fmt.Sprintf("the configuration and %s", strings.Join(files, ", "))
	}
	return "the configuration"
}

// oneLine joins a configuration's errors into one line: a refused reload
// is one E! line.
func oneLine(err error) error {
	var parts []string
	for _, e := range unjoin(err) {
		parts = append(parts, e.Error())
	}
	return errors.New(strings.Join(parts, "; "))
}

// forward asks for a reload on SIGHUP and when a targets file changes.
func (r *reloader) forward(ctx context.Context, hup <-chan os.Signal, asks chan<- struct{}) {
	r.onChange(ctx, hup, func() {
		select {
		case asks <- struct{}{}:
		default: // one is already asked for: it reads everything anew
		}
	})
}

// watchAlone is the Telegraf mode's reload: only a targets file that
// changed asks for one (SIGHUP is a probe trigger there).
func (r *reloader) watchAlone(ctx context.Context) {
	r.onChange(ctx, nil, func() {
		if err := r.reload(); err != nil {
			r.log.Errorf("reload refused, the previous configuration keeps running: %v", err)
		}
	})
}

// onChange calls act on each signal from hup (nil: none) and each change
// of a targets file, until ctx ends.
func (r *reloader) onChange(ctx context.Context, hup <-chan os.Signal, act func()) {
	changed := make(chan struct{}, 1)
	go r.watch(ctx, changed)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		case <-changed:
		}
		act()
	}
}

// watch says on changed when a targets file of the running configuration
// changes (its size, time or existence), every watchEvery.
func (r *reloader) watch(ctx context.Context, changed chan<- struct{}) {
	type stamp struct {
		size int64
		mod  time.Time
		ok   bool
	}
	seen := map[string]stamp{}
	look := func(path string) stamp {
		fi, err := os.Stat(path)
		if err != nil {
			return stamp{}
		}
		return stamp{size: fi.Size(), mod: fi.ModTime(), ok: true}
	}
	tick := time.NewTicker(watchEvery)
	defer tick.Stop()
	for {
		r.mu.Lock()
		files := r.cfg.TargetsFiles()
		r.mu.Unlock()
		differs := false
		for _, f := range files {
			now := look(f)
			if before, ok := seen[f]; ok && before != now {
				differs = true
			}
			seen[f] = now
		}
		if differs {
			select {
			case changed <- struct{}{}:
			default:
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
