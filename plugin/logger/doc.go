// Package logger writes log lines to stderr with the level prefixes Telegraf's
// execd input understands ("E! ", "W! ", "I! ", "D! "), so every message the
// plugin prints lands in Telegraf's log at the right level.
package logger
