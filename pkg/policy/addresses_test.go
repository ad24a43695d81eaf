package policy

import (
	"bytes"
	"net"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestNodeAddresses(t *testing.T) {
	node := buildNode("worker-1",
		withAddress(corev1.NodeInternalIP, "fd00::0:10"),
		withAddress(corev1.NodeHostName, "10.0.0.99"),
		withAddress(corev1.NodeExternalDNS, "Worker-1.Pool.Example.COM."),
		withAddress("Custom", "custom.example.com"),
		withAddress("Custom", "192.0.2.50"),
		withAddress(corev1.NodeInternalIP, "not-an-ip"),
	)
	owned := NodeAddressesOf(node)
	dns := map[string]bool{
		"worker-1":                        true, // Hostname
		"WORKER-1.":                       true,
		"worker-1.internal.example.com":   true, // InternalDNS
		"worker-1.example.com":            true, // ExternalDNS
		"worker-1.pool.example.com":       true,
		"10.0.0.99":                       true,  // a Hostname that looks like an IP is still a name
		"10.0.0.11":                       false, // an InternalIP is not a DNS name
		"custom.example.com":              false, // other address types own nothing
		"not-an-ip":                       false,
		"worker-2":                        false,
		"":                                false,
		"worker-1.internal.example.com..": false,
	}
	for name, want := range dns {
		if got := owned.OwnsDNSName(name); got != want {
			t.Errorf("OwnsDNSName(%q) = %v, want %v", name, got, want)
		}
	}
	ips := map[string]bool{
		"10.0.0.11":        true, // InternalIP
		"::ffff:10.0.0.11": true,
		"203.0.113.11":     true, // ExternalIP
		"fd00::10":         true,
		"10.0.0.99":        false, // a Hostname does not own an IP
		"192.0.2.50":       false, // other address types own nothing
		"10.0.0.12":        false,
	}
	for s, want := range ips {
		if got := owned.OwnsIP(net.ParseIP(s)); got != want {
			t.Errorf("OwnsIP(%s) = %v, want %v", s, got, want)
		}
	}
	for _, ip := range []net.IP{nil, {10, 0, 0}} {
		if owned.OwnsIP(ip) {
			t.Errorf("OwnsIP(%v) = true for a malformed IP", []byte(ip))
		}
	}
	for _, none := range []NodeAddresses{{}, NodeAddressesOf(nil), NodeAddressesOf(buildNode("n", withNoAddresses()))} {
		if none.OwnsDNSName("worker-1") || none.OwnsIP(net.ParseIP("10.0.0.11")) {
			t.Errorf("%+v owns an address", none)
		}
	}
}

func TestCanonicalDNSName(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"lower-cases":                 {"Worker-1.Example.COM", "worker-1.example.com"},
		"drops one trailing dot":      {"worker-1.example.com.", "worker-1.example.com"},
		"drops only one trailing dot": {"a..", "a."},
		"a lone dot becomes empty":    {".", ""},
		"empty stays empty":           {"", ""},
		"keeps a leading wildcard":    {"*.Nodes.Example.com.", "*.nodes.example.com"},
		"an already canonical name":   {"worker-1", "worker-1"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := CanonicalDNSName(tc.in); got != tc.want {
				t.Errorf("CanonicalDNSName(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestCanonicalIP(t *testing.T) {
	tests := map[string]struct {
		in   net.IP
		want net.IP
	}{
		"a 4-byte IPv4 address becomes its 16-byte form": {net.IP{10, 0, 0, 1}, net.ParseIP("10.0.0.1").To16()},
		"a 16-byte IPv4-mapped address stays the same":   {net.ParseIP("::ffff:10.0.0.1"), net.ParseIP("10.0.0.1").To16()},
		"an IPv6 address is unchanged":                   {net.ParseIP("2001:db8::1"), net.ParseIP("2001:0db8:0:0:0:0:0:1")},
		"an IPv4-compatible (not mapped) address stays IPv6": {
			net.ParseIP("::10.0.0.1"), net.IP{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 0, 0, 1},
		},
		"nil stays nil":               {nil, nil},
		"a 3-byte slice is not an IP": {net.IP{1, 2, 3}, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := CanonicalIP(tc.in)
			if !bytes.Equal(got, tc.want) { //nolint:staticcheck // CanonicalIP promises the exact 16-byte form
				t.Errorf("CanonicalIP(%v) = %v (% x), want %v (% x)", tc.in, got, []byte(got), tc.want, []byte(tc.want))
			}
			if got != nil && len(got) != net.IPv6len {
				t.Errorf("CanonicalIP(%v) has %d bytes, want 16", tc.in, len(got))
			}
		})
	}
	t.Run("the two forms of an IPv4 address are bytes.Equal", func(t *testing.T) {
		if !bytes.Equal(CanonicalIP(net.IP{192, 0, 2, 1}), CanonicalIP(net.ParseIP("::ffff:192.0.2.1"))) { //nolint:staticcheck // exact bytes are the point
			t.Error("4-byte and IPv4-mapped forms differ after CanonicalIP")
		}
	})
}
