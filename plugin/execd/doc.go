// Package execd is the Telegraf front end. Once prints one round as influx
// line protocol; Run serves Telegraf's inputs.execd, running a round per
// stdin line, per signal or per poll interval, each written as one line per
// target (AppendResult), followed by its hping3_hop lines when its group
// probes the path, and one hping3_round self-metric line.
package execd
