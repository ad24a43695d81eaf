package policy

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
)

// bPending is a pending CSR created minutes after bNow-1h.
func bPending(name string, minutes int, signer, cn string) PendingCSR {
	return PendingCSR{Name: name, Created: bNow.Add(-time.Hour + time.Duration(minutes)*time.Minute), SignerName: signer, CommonName: cn}
}

func TestCheckFlood(t *testing.T) {
	const (
		client  = certificatesv1.KubeAPIServerClientKubeletSignerName
		serving = certificatesv1.KubeletServingSignerName
		cnA     = "system:node:worker-1"
		cnB     = "system:node:worker-2"
	)
	old := bPending("csr-old", 0, client, cnA)
	newer := bPending("csr-new", 5, client, cnA)
	many := func(n int) []PendingCSR {
		var out []PendingCSR
		for i := range n {
			out = append(out, bPending(fmt.Sprintf("csr-%03d", i), i, client, fmt.Sprintf("system:node:n-%d", i)))
		}
		return out
	}
	tests := map[string]struct {
		self       PendingCSR
		pending    []PendingCSR
		maxPending int
		wantReason string // "" when self may be evaluated
		wantMsg    string
	}{
		"a single pending request may be evaluated": {
			self: old, pending: []PendingCSR{old}, maxPending: 5,
		},
		"an older request is superseded by a newer one for the same CN and signer": {
			self: old, pending: []PendingCSR{newer, old}, maxPending: 5,
			wantReason: ReasonSuperseded, wantMsg: "csr-new",
		},
		"the newer of two requests for the same CN and signer may be evaluated": {
			self: newer, pending: []PendingCSR{old, newer}, maxPending: 5,
		},
		"a newer request for a different CN does not supersede": {
			self: old, pending: []PendingCSR{old, bPending("csr-b", 5, client, cnB)}, maxPending: 5,
		},
		"a newer request for a different signer does not supersede": {
			self: old, pending: []PendingCSR{old, bPending("csr-serving", 5, serving, cnA)}, maxPending: 5,
		},
		"with the same creation time the name breaks the tie: csr-a is superseded by csr-b": {
			self:       bPending("csr-a", 0, client, cnA),
			pending:    []PendingCSR{bPending("csr-b", 0, client, cnA), bPending("csr-a", 0, client, cnA)},
			maxPending: 5, wantReason: ReasonSuperseded, wantMsg: "csr-b",
		},
		"with the same creation time the name breaks the tie: csr-b may be evaluated": {
			self:       bPending("csr-b", 0, client, cnA),
			pending:    []PendingCSR{bPending("csr-b", 0, client, cnA), bPending("csr-a", 0, client, cnA)},
			maxPending: 5,
		},
		"the newest of three requests for the same CN supersedes the oldest": {
			self:       old,
			pending:    []PendingCSR{bPending("csr-newest", 9, client, cnA), newer, old},
			maxPending: 5, wantReason: ReasonSuperseded,
		},
		"a request ranked exactly at the cap may be evaluated": {
			self: many(3)[1], pending: many(3), maxPending: 2,
		},
		"a request ranked just over the cap is denied as TooManyPendingRequests": {
			self: many(3)[2], pending: many(3), maxPending: 2,
			wantReason: ReasonTooManyPendingRequests, wantMsg: "3 pending requests; only the oldest 2",
		},
		"a cap of 1 admits only the oldest request": {
			self: many(2)[1], pending: many(2), maxPending: 1, wantReason: ReasonTooManyPendingRequests,
		},
		"a cap of 0 means unlimited": {
			self: many(200)[199], pending: many(200), maxPending: 0,
		},
		"a negative cap means unlimited": {
			self: many(20)[19], pending: many(20), maxPending: -1,
		},
		"a newer duplicate beyond the cap does not supersede a request within it": {
			self:       old,
			pending:    []PendingCSR{old, bPending("csr-b", 1, client, cnB), bPending("csr-dup", 2, client, cnA)},
			maxPending: 2,
		},
		"a newer duplicate within the cap supersedes across unrelated requests": {
			self:       old,
			pending:    []PendingCSR{old, bPending("csr-b", 1, client, cnB), bPending("csr-dup", 2, client, cnA)},
			maxPending: 3, wantReason: ReasonSuperseded, wantMsg: "csr-dup",
		},
		"with no cap a newer duplicate always supersedes": {
			self:       many(30)[0],
			pending:    append(many(30), bPending("csr-zzz", 59, client, "system:node:n-0")),
			maxPending: 0, wantReason: ReasonSuperseded, wantMsg: "csr-zzz",
		},
		"self missing from the list and alone may be evaluated": {
			self: old, pending: nil, maxPending: 5,
		},
		"self missing from the list counts as the newest against the cap": {
			self: bPending("csr-self", 30, client, cnA), pending: many(2), maxPending: 2,
			wantReason: ReasonTooManyPendingRequests, wantMsg: "3 pending",
		},
		"self missing from the list within the cap is not superseded by older requests": {
			self: newer, pending: []PendingCSR{old}, maxPending: 5,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			before := slices.Clone(tc.pending)
			got, flooded := CheckFlood(tc.self, tc.pending, tc.maxPending)
			if !slices.EqualFunc(tc.pending, before, func(a, b PendingCSR) bool {
				return a.Name == b.Name && a.Created.Equal(b.Created) && a.SignerName == b.SignerName &&
					a.CommonName == b.CommonName && bytes.Equal(a.Request, b.Request)
			}) {
				t.Errorf("CheckFlood modified its pending argument")
			}
			if tc.wantReason == "" {
				if flooded || got != (Decision{}) {
					t.Fatalf("CheckFlood() = %+v, %v; want the zero Decision, false", got, flooded)
				}
				return
			}
			if !flooded {
				t.Fatalf("CheckFlood() = %+v, false; want %s", got, tc.wantReason)
			}
			if got.Result != Deny || got.Reason != tc.wantReason || got.Policy != "" {
				t.Errorf("CheckFlood() = {%s %s policy=%q}, want {Deny %s}", got.Result, got.Reason, got.Policy, tc.wantReason)
			}
			if !strings.Contains(got.Message, tc.wantMsg) {
				t.Errorf("Message = %q, want it to contain %q", got.Message, tc.wantMsg)
			}
		})
	}
}

// TestCheckFloodRanksMissingSelfByCreation: pending should hold self, but
// when it does not (a stale cache), self should still be ranked by its
// creation time among the others, so an older self is superseded.
func TestCheckFloodRanksMissingSelfByCreation(t *testing.T) {
	self := bPending("csr-old", 0, certificatesv1.KubeAPIServerClientKubeletSignerName, "system:node:worker-1")
	newer := bPending("csr-new", 5, certificatesv1.KubeAPIServerClientKubeletSignerName, "system:node:worker-1")
	got, flooded := CheckFlood(self, []PendingCSR{newer}, 5)
	if !flooded || got.Reason != ReasonSuperseded {
		t.Errorf("CheckFlood() = %+v, %v; want Deny Superseded by csr-new", got, flooded)
	}
}

func TestCheckFloodReadsCommonNamesFromRequests(t *testing.T) {
	pemFor := func(cn string) []byte {
		return buildCSR(t, withCN(cn)).Spec.Request
	}
	older := PendingCSR{Name: "older", Created: bNow.Add(-time.Hour), SignerName: certificatesv1.KubeAPIServerClientKubeletSignerName, Request: pemFor("system:node:a")}
	newer := PendingCSR{Name: "newer", Created: bNow, SignerName: certificatesv1.KubeAPIServerClientKubeletSignerName, Request: pemFor("system:node:a")}
	other := PendingCSR{Name: "other", Created: bNow, SignerName: certificatesv1.KubeAPIServerClientKubeletSignerName, Request: pemFor("system:node:b")}
	if d, flooded := CheckFlood(older, []PendingCSR{older, newer}, 10); !flooded || d.Reason != ReasonSuperseded {
		t.Fatalf("a newer request with the same CN in its PEM did not supersede: %+v", d)
	}
	if _, flooded := CheckFlood(older, []PendingCSR{older, other}, 10); flooded {
		t.Fatal("a newer request with another CN in its PEM superseded")
	}
}

// BenchmarkCheckFlood decides one request of a requester with 100 pending
// requests, given as PEM as the controller passes them: the newest request
// needs no CN parse, the oldest one needs the CNs of the newer ones.
func BenchmarkCheckFlood(b *testing.B) {
	pending := make([]PendingCSR, 100)
	for i := range pending {
		pending[i] = PendingCSR{Name: fmt.Sprintf("csr-%03d", i), Created: bNow.Add(time.Duration(i) * time.Second),
			SignerName: certificatesv1.KubeAPIServerClientKubeletSignerName, Request: buildCSR(b, withCN(fmt.Sprintf("system:node:n-%03d", i))).Spec.Request}
	}
	for _, tc := range []struct {
		name string
		self PendingCSR
	}{{"self newest", pending[len(pending)-1]}, {"self oldest", pending[0]}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				CheckFlood(tc.self, pending, 100)
			}
		})
	}
}
