// Package hping3 is the CLI engine: it knows hping3 itself. It finds the
// binary (Binary), builds the only argv the plugin may run (Args), runs one
// process per target under stdbuf with its SIGINT and kill deadlines
// (NewPlan, Execute), parses what the process prints into records (Parser,
// ParseSummary) and classifies a run that measured nothing (Execution.Failure,
// with typed errors that the Tcl engine returns too). Only this package and
// its tcl subpackage read hping3's text; the rest of the plugin sees records
// and errors. hping3's behaviour it relies on is described in docs/hping3.md.
package hping3
