package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/nodetrust/nodetrust/pkg/audit"
)

// Output formats.
const (
	outputTable = "table"
	outputJSON  = "json"
	outputYAML  = "yaml"
)

// clusterFlags are the flags every command takes to reach the cluster and
// print.
type clusterFlags struct {
	kubeconfig     string
	context        string
	output         string
	requestTimeout durationValue
}

// defaultRequestTimeout bounds each API request unless --request-timeout says otherwise.
const defaultRequestTimeout = 30 * time.Second

func (f *clusterFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config, else in-cluster)")
	fs.StringVar(&f.context, "context", "", "the kubeconfig context to use (default: the current context)")
	fs.StringVarP(&f.output, "output", "o", outputTable, "output format: table, json or yaml")
	f.requestTimeout = durationValue(defaultRequestTimeout)
	fs.Var(&f.requestTimeout, "request-timeout", "how long to wait for each API request (e.g. 30s, 2m; 0 waits forever)")
}

// validate checks the values pflag cannot check itself.
func (f *clusterFlags) validate() error {
	switch f.output {
	case outputTable, outputJSON, outputYAML:
		return nil
	default:
		return fmt.Errorf("invalid value %q for --output: want table, json or yaml", f.output)
	}
}

// durationValue is a duration flag that also takes whole days: "30d", as
// well as Go durations such as "12h" or "1h30m", and a mix: "1d12h".
type durationValue time.Duration

// String implements pflag.Value.
func (d *durationValue) String() string { return audit.ShortDuration(time.Duration(*d)) }

// Type implements pflag.Value.
func (d *durationValue) Type() string { return "duration" }

// Set implements pflag.Value.
func (d *durationValue) Set(s string) error {
	v, err := parseDuration(s)
	if err != nil {
		return err
	}
	*d = durationValue(v)
	return nil
}

// maxDays keeps day counts far from overflowing a time.Duration (about 292 years).
const maxDays = 100 * 365

// parseDuration parses "<n>d" optionally followed by a Go duration, or a Go
// duration alone. Negative durations are refused.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty duration")
	}
	var total time.Duration
	rest := s
	if days, after, ok := strings.Cut(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || days == "" || days[0] == '+' {
			return 0, fmt.Errorf("invalid duration %q: want e.g. 30d, 12h or 1d12h", s)
		}
		if n > maxDays {
			return 0, fmt.Errorf("invalid duration %q: more than %d days", s, maxDays)
		}
		total, rest = time.Duration(n)*24*time.Hour, after
	}
	if rest != "" {
		d, err := time.ParseDuration(rest)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: want e.g. 30d, 12h or 1d12h", s)
		}
		if d < 0 || (total > 0 && rest[0] == '-') {
			return 0, fmt.Errorf("invalid duration %q: must not be negative", s)
		}
		total += d
	}
	return total, nil
}

// failOn is the set of anomaly codes that make audit exit with exitAnomalies.
type failOn map[audit.Code]bool

// parseFailOn parses "none", "all" or a comma-separated list of codes.
func parseFailOn(s string) (failOn, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "", "none":
		return failOn{}, nil
	case "all":
		set := failOn{}
		for _, c := range audit.Codes() {
			set[c] = true
		}
		return set, nil
	}
	set := failOn{}
	for part := range strings.SplitSeq(s, ",") {
		c := audit.Code(strings.TrimSpace(part))
		switch {
		case c == "":
			return nil, fmt.Errorf("invalid value %q for --fail-on: empty code", s)
		case c == "all" || c == "none":
			return nil, fmt.Errorf("invalid value %q for --fail-on: %q cannot be combined with codes", s, c)
		case !c.Known():
			return nil, fmt.Errorf("invalid value %q for --fail-on: unknown code %q (known: %s)", s, c, codeList())
		}
		set[c] = true
	}
	return set, nil
}

func codeList() string {
	codes := audit.Codes()
	names := make([]string, 0, len(codes))
	for _, c := range codes {
		names = append(names, string(c))
	}
	return strings.Join(names, ", ")
}

// matching returns the anomalies whose code is in f.
func (f failOn) matching(anomalies []audit.Anomaly) []audit.Anomaly {
	var out []audit.Anomaly
	for _, a := range anomalies {
		if f[a.Code] {
			out = append(out, a)
		}
	}
	return out
}
