// Package testprom is for tests only: a harness that runs a real Prometheus
// server (Debian's prometheus package) scraping what a test points it at,
// and reads back what it stored. It holds
//
//   - Start, Config and Server: a Prometheus with one scrape job, "hping3",
//     over the test's targets (plain HTTP or HTTPS, with or without basic
//     auth), ready when Start returns and killed by the test's cleanup;
//   - Query and QueryAt: instant PromQL queries through the HTTP API, the
//     API's own error message returned as the error;
//   - WaitForScrapes and TargetHealth: until every target has been scraped
//     n times, and how its last scrape went (health, lastError);
//   - DashboardQueries: every PromQL expression of a Grafana dashboard
//     (examples/grafana), its template variables replaced by values a test
//     can run.
//
// A missing prometheus binary skips the test, or fails it under CI
// (testbin.Skip). It is a plain package rather than _test.go files so that
// the test packages of the plugin's front ends can import it; nothing
// outside tests does.
package testprom
