package main

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/nodetrust/nodetrust/pkg/signer/pkcs11"
)

func TestParseFlags(t *testing.T) {
	tests := map[string]struct {
		args    []string
		wantErr string
	}{
		"no flags give the defaults":                              {},
		"kubebuilder's flags are accepted":                        {args: []string{"--kubeconfig=/dev/null", "--leader-elect", "--leader-election-namespace=ns", "--metrics-bind-address=0", "--health-probe-bind-address=127.0.0.1:9000", "--zap-log-level=debug"}},
		"an unknown flag is an error":                             {args: []string{"--frobnicate"}, wantErr: "flag provided but not defined"},
		"a stray argument is an error":                            {args: []string{"extra"}, wantErr: "unexpected arguments: extra"},
		"a malformed bool is an error":                            {args: []string{"--leader-elect=maybe"}, wantErr: "invalid boolean"},
		"a metrics address without a port is an error":            {args: []string{"--metrics-bind-address=localhost"}, wantErr: "--metrics-bind-address"},
		"a probe address without a port is an error":              {args: []string{"--health-probe-bind-address=nowhere"}, wantErr: "--health-probe-bind-address"},
		"a lease shorter than the renew deadline is an error":     {args: []string{"--leader-election-lease-duration=5s"}, wantErr: "must be longer than --leader-election-renew-deadline"},
		"a renew deadline shorter than the retry period is error": {args: []string{"--leader-election-retry-period=20s"}, wantErr: "--leader-election-renew-deadline"},
		"a negative pending bound is an error":                    {args: []string{"--max-pending-per-requester=-1"}, wantErr: "must not be negative"},
		"a cluster domain with spaces is an error":                {args: []string{"--cluster-domain=not a domain"}, wantErr: "--cluster-domain"},
		"two Service ranges are accepted":                         {args: []string{"--service-cluster-ip-range=10.96.0.0/12, fd00:10:96::/108"}},
		"a Service range that is no CIDR is an error":             {args: []string{"--service-cluster-ip-range=10.96.0.0/12,10.0.0.1"}, wantErr: "--service-cluster-ip-range"},
		"an empty entry in the Service ranges is an error":        {args: []string{"--service-cluster-ip-range=10.96.0.0/12,"}, wantErr: "--service-cluster-ip-range"},
		"a bad log level is an error":                             {args: []string{"--zap-log-level=loud"}, wantErr: "zap-log-level"},
		"a negative record retention is an error":                 {args: []string{"--record-retention=-1h"}, wantErr: "--record-retention"},
		"the signer flags are accepted":                           {args: []string{"--signer-namespace=pki", "--signer-files-dir=/etc/nodetrust"}},
		"a signer namespace that is no namespace is an error":     {args: []string{"--signer-namespace=Not_A_Namespace"}, wantErr: "--signer-namespace"},
		"a relative signer files directory is an error":           {args: []string{"--signer-files-dir=etc/nodetrust"}, wantErr: "--signer-files-dir"},
		"another approval key Secret is accepted":                 {args: []string{"--approval-key-secret=approval-key.v2"}},
		"an approval key Secret that is no Secret name is error":  {args: []string{"--approval-key-secret=Approval Key"}, wantErr: "--approval-key-secret"},
		"an empty approval key Secret name is an error":           {args: []string{"--approval-key-secret="}, wantErr: "--approval-key-secret"},
		"a relative PKCS#11 module path is an error":              {args: []string{"--pkcs11-module=libsofthsm2.so"}, wantErr: "--pkcs11-module"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o, err := parseFlags(tc.args, io.Discard)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if o.ClusterDomain == "" || o.ProbeAddr == "" {
					t.Fatalf("defaults not applied: %+v", o)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestParseFlagsHelp(t *testing.T) {
	var out strings.Builder
	_, err := parseFlags([]string{"--help"}, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("error = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"-leader-elect", "-metrics-bind-address", "-health-probe-bind-address", "-kubeconfig", "-zap-log-level"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage does not mention %s", want)
		}
	}
}

func TestPKCS11ModuleNeedsCgo(t *testing.T) {
	_, err := parseFlags([]string{"--pkcs11-module=/usr/lib/softhsm/libsofthsm2.so"}, io.Discard)
	switch {
	case pkcs11.Supported && err != nil:
		t.Fatalf("a cgo build refused --pkcs11-module: %v", err)
	case !pkcs11.Supported && (err == nil || !strings.Contains(err.Error(), "cgo")):
		t.Fatalf("a build without cgo accepted --pkcs11-module: %v", err)
	}
}
