// How the settings read in docs/configuration.md: one row each, with the
// default as text (TestSettingsTable holds the docs to it).

package config

import (
	"fmt"
	"strings"
	"time"
)

// Default returns the setting's default as the docs show it.
func (s Setting) Default() string {
	if s.DefaultText != "" {
		return s.DefaultText
	}
	c := &Config{MaxPacketRate: DefaultMaxPacketRate}
	g := &Group{Settings: DefaultSettings()}
	switch v := s.field(c, g).(type) {
	case *[]string, *map[string]string, *[]int:
		return "none"
	case *string:
		return *v
	case *Protocol:
		return string(*v)
	case *int:
		return fmt.Sprint(*v)
	case *bool:
		return fmt.Sprint(*v)
	case *time.Duration:
		return v.String()
	}
	return ""
}

// MarkdownTable renders the settings table for docs/configuration.md.
func MarkdownTable() string {
	var b strings.Builder
	b.WriteString("| key | flag | default | allowed | meaning |\n|---|---|---|---|---|\n")
	for _, s := range settingsTable {
		key := "`" + s.Key + "`"
		if s.Top {
			key += " (top level)"
		}
		fl := ""
		if s.Flag != "" {
			fl = "`--" + s.Flag + "`"
		}
		meaning := s.Help
		if s.Applies != "" {
			meaning = s.Applies + " only: " + meaning
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", key, fl, s.Default(), s.Allowed, meaning)
	}
	return strings.TrimSuffix(b.String(), "\n")
}
