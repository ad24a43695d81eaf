// Package metrics defines the Prometheus metrics of nodetrust's manager:
// counters and histograms the control loops observe as they write, and
// gauges computed from the cache at scrape time, the same on every replica.
package metrics
