package execd

import (
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/core"
)

// RoundMeasurement is the plugin's own line per round in the long-running
// mode: how big and how long the round was, so an operator sees a plugin
// that falls behind before its measurements suffer.
const RoundMeasurement = "hping3_round"

// EncodeRound returns the round's self-metric line. overrun is true when the
// round took longer than the time between rounds (the poll interval, or
// Telegraf's interval when a request arrived while the round ran).
//
// For a continuous window (rd.Window) duration_ms is the window's length
// and overrun is always false: the report returns at once, so nothing can
// fall behind; the field stays so that every line has the same fields of
// the same types. engine_restarts is written for windows only: in rounds
// the engine lives for one round, and a crash fails that round's targets.
func EncodeRound(rd core.Report, overrun bool) []byte {
	if rd.Window {
		overrun = false
	}
	var enc lineprotocol.Encoder
	enc.SetPrecision(lineprotocol.Nanosecond)
	enc.StartLine(RoundMeasurement)
	if rd.Vantage != "" {
		enc.AddTag(config.VantageTag, rd.Vantage)
	}
	enc.AddField("targets", lineprotocol.IntValue(int64(len(rd.Results))))
	enc.AddField("processes", lineprotocol.IntValue(int64(rd.Processes)))
	enc.AddField("failures", lineprotocol.IntValue(int64(rd.Failures)))
	enc.AddField("packets", lineprotocol.IntValue(int64(rd.Packets)))
	if rd.Window {
		enc.AddField("engine_restarts", lineprotocol.IntValue(int64(rd.Restarts)))
	}
	// Which clock timed the packets (docs/engines.md#clocks), and what the
	// plugin's own captures lost.
	enc.AddField("kernel_stamped", lineprotocol.IntValue(int64(rd.Stamps.Kernel)))
	enc.AddField("send_stamp_fallbacks", lineprotocol.IntValue(int64(rd.Stamps.Fallback)))
	enc.AddField("hping3_stamped", lineprotocol.IntValue(int64(rd.Stamps.Engine)))
	enc.AddField("capture_drops", lineprotocol.IntValue(int64(rd.CaptureDrops)))
	enc.AddField("duration_ms", floatValue(float64(rd.Duration)/float64(time.Millisecond)))
	enc.AddField("overrun", lineprotocol.BoolValue(overrun))
	enc.EndLine(rd.Start)
	return enc.Bytes()
}
