package audit

import (
	"cmp"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
)

// Code names a kind of anomaly. Codes are stable, lower-case and
// kebab-case: scripts select them (kubectl nodetrust audit --fail-on).
type Code string

// The anomaly codes. docs/audit.md says what each means and what to do.
const (
	// CodeExpired: the current client or serving certificate of an existing
	// Node has expired and no valid certificate of that kind is on record.
	CodeExpired Code = "expired"
	// CodeExpiring: the current client or serving certificate of an existing
	// Node is valid but expires within Options.ExpiringWithin.
	CodeExpiring Code = "expiring"
	// CodeNoServing: an existing Node has no valid serving certificate on
	// record, either none at all or only expired ones.
	CodeNoServing Code = "no-serving"
	// CodeSANMismatch: the current, valid serving certificate of an existing
	// Node names a DNS name or IP address that is not one of the Node's
	// status.addresses, by the rule approval applies (policy.NodeAddresses):
	// DNS names against Hostname, InternalDNS and ExternalDNS addresses, IP
	// addresses against InternalIP and ExternalIP addresses.
	CodeSANMismatch Code = "san-mismatch"
	// CodeUnknownNode: a valid certificate is on record for a Node that does
	// not exist. Reported once per valid certificate.
	CodeUnknownNode Code = "unknown-node"
	// CodeNotApprovedByNodetrust: a valid certificate was approved by someone
	// other than nodetrust. Reported once per valid certificate.
	CodeNotApprovedByNodetrust Code = "not-approved-by-nodetrust"
	// CodeBurst: more than Options.BurstThreshold valid certificates of one
	// kind were requested for one node within Options.BurstWindow, going by
	// the creation time of their CSRs (see RequestTime). Expired certificates
	// no longer count: the anomaly is about credentials still usable.
	CodeBurst Code = "burst"
)

var codes = []Code{
	CodeExpired, CodeExpiring, CodeNoServing, CodeSANMismatch,
	CodeUnknownNode, CodeNotApprovedByNodetrust, CodeBurst,
}

// Codes returns every anomaly code, in the order reports sort them.
func Codes() []Code { return slices.Clone(codes) }

// Known reports whether c is one of the codes Codes returns.
func (c Code) Known() bool { return slices.Contains(codes, c) }

// Defaults of Options.
const (
	// DefaultExpiringWithin is the default Options.ExpiringWithin.
	DefaultExpiringWithin = 30 * 24 * time.Hour
	// DefaultBurstWindow is the default Options.BurstWindow.
	DefaultBurstWindow = time.Hour
	// DefaultBurstThreshold is the default Options.BurstThreshold.
	DefaultBurstThreshold = 5
)

// Options tune the analysis. A zero or negative field takes its default.
type Options struct {
	// ExpiringWithin is how close to its notAfter a current certificate is
	// reported as expiring. Default DefaultExpiringWithin.
	ExpiringWithin time.Duration
	// BurstWindow is the span within which more than BurstThreshold
	// certificates of one kind for one node are a burst. Default
	// DefaultBurstWindow.
	BurstWindow time.Duration
	// BurstThreshold is how many certificates within BurstWindow are still
	// no burst. Default DefaultBurstThreshold.
	BurstThreshold int
}

// WithDefaults returns o with every zero or negative field set to its default.
func (o Options) WithDefaults() Options {
	if o.ExpiringWithin <= 0 {
		o.ExpiringWithin = DefaultExpiringWithin
	}
	if o.BurstWindow <= 0 {
		o.BurstWindow = DefaultBurstWindow
	}
	if o.BurstThreshold <= 0 {
		o.BurstThreshold = DefaultBurstThreshold
	}
	return o
}

// Report is the outcome of Analyze.
type Report struct {
	// GeneratedAt is the time the analysis was made for.
	GeneratedAt time.Time `json:"generatedAt"`
	// Nodes has one entry for every Node that exists and every node name
	// that has records, sorted by name.
	Nodes []NodeReport `json:"nodes"`
	// Anomalies are all anomalies found, sorted by node, certificate kind
	// (Client before Serving), code (in the order of Codes), then serial
	// number.
	Anomalies []Anomaly `json:"anomalies"`
}

// NodeReport is what the records say about one node.
type NodeReport struct {
	// Name is the node's name.
	Name string `json:"name"`
	// Exists says whether a Node object of that name exists.
	Exists bool `json:"exists"`
	// Client is the node's current client certificate, nil when none is on record.
	Client *Certificate `json:"client,omitempty"`
	// Serving is the node's current serving certificate, nil when none is on record.
	Serving *Certificate `json:"serving,omitempty"`
	// Records is how many records of the node, of either kind, the store holds.
	Records int `json:"records"`
}

// Current returns the node's current certificate of kind, or nil.
func (n NodeReport) Current(kind v1alpha1.CertificateKind) *Certificate {
	switch kind {
	case v1alpha1.CertificateClient:
		return n.Client
	case v1alpha1.CertificateServing:
		return n.Serving
	default:
		return nil
	}
}

// Certificate summarises one NodeCertificate record.
type Certificate struct {
	// Record is the name of the NodeCertificate.
	Record string `json:"record"`
	// Kind is Client or Serving.
	Kind v1alpha1.CertificateKind `json:"kind"`
	// SerialNumber is the certificate's serial number, lower-case hex.
	SerialNumber string `json:"serialNumber"`
	// SHA256Fingerprint is the certificate's fingerprint.
	SHA256Fingerprint string `json:"sha256Fingerprint"`
	// SignerName is the CSR's signer name.
	SignerName string `json:"signerName"`
	// NotBefore and NotAfter bound the certificate's validity.
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
	// Expired says whether NotAfter had passed at Report.GeneratedAt. A
	// current certificate is expired only when no valid one of its kind is
	// on record.
	Expired bool `json:"expired"`
	// DNSNames and IPAddresses are the certificate's SANs.
	DNSNames    []string `json:"dnsNames,omitempty"`
	IPAddresses []string `json:"ipAddresses,omitempty"`
	// CSR is the name of the CSR the certificate was issued for.
	CSR string `json:"csr"`
	// RequestedAt is when the certificate was asked for (see RequestTime).
	RequestedAt time.Time `json:"requestedAt"`
	// Approval is who approved the CSR, and why.
	Approval v1alpha1.Approval `json:"approval"`
	// Issuance is who signed the certificate.
	Issuance v1alpha1.Issuance `json:"issuance"`
}

// Ref returns the reference of c that anomalies carry.
func (c *Certificate) Ref() *CertificateRef {
	return &CertificateRef{Record: c.Record, SerialNumber: c.SerialNumber, SHA256Fingerprint: c.SHA256Fingerprint}
}

// CertificateRef identifies the certificate an anomaly is about.
type CertificateRef struct {
	// Record is the name of the NodeCertificate.
	Record string `json:"record"`
	// SerialNumber is the certificate's serial number.
	SerialNumber string `json:"serialNumber"`
	// SHA256Fingerprint is the certificate's fingerprint.
	SHA256Fingerprint string `json:"sha256Fingerprint"`
}

// Anomaly is one thing that looks wrong.
type Anomaly struct {
	// Node is the node name it concerns.
	Node string `json:"node"`
	// Code says what kind of anomaly it is.
	Code Code `json:"code"`
	// CertificateKind is the kind of certificate it concerns: Client or
	// Serving (no-serving and san-mismatch are always Serving).
	CertificateKind v1alpha1.CertificateKind `json:"certificateKind"`
	// Certificate is the certificate it concerns; nil for no-serving without
	// any serving record, and for burst, which concerns several.
	Certificate *CertificateRef `json:"certificate,omitempty"`
	// Message explains it in words.
	Message string `json:"message"`
}

// kinds are the certificate kinds, in report order.
var kinds = []v1alpha1.CertificateKind{v1alpha1.CertificateClient, v1alpha1.CertificateServing}

// Analyze reports on records and nodes as of now. It lists every node that
// exists or has records with its current certificates and finds the
// anomalies described at the Code constants. Records without a node name or
// with an unknown kind are ignored. A node's current certificate of a kind is
// the record of that node and kind with the latest notBefore among those not
// expired at now (a certificate is valid through its notAfter); when all are
// expired, it is the one with the latest notBefore among them. The report
// depends only on its arguments and is sorted deterministically.
func Analyze(records []v1alpha1.NodeCertificate, nodes []corev1.Node, now time.Time, opts Options) Report {
	opts = opts.WithDefaults()
	byNode := map[string]map[v1alpha1.CertificateKind][]*v1alpha1.NodeCertificate{}
	for i := range records {
		r := &records[i]
		if r.Spec.NodeName == "" || !slices.Contains(kinds, r.Spec.Kind) {
			continue
		}
		if byNode[r.Spec.NodeName] == nil {
			byNode[r.Spec.NodeName] = map[v1alpha1.CertificateKind][]*v1alpha1.NodeCertificate{}
		}
		byNode[r.Spec.NodeName][r.Spec.Kind] = append(byNode[r.Spec.NodeName][r.Spec.Kind], r)
	}
	nodeByName := make(map[string]*corev1.Node, len(nodes))
	for i := range nodes {
		nodeByName[nodes[i].Name] = &nodes[i]
	}
	names := make([]string, 0, len(byNode)+len(nodes))
	for name := range byNode {
		names = append(names, name)
	}
	for name := range nodeByName {
		if _, ok := byNode[name]; !ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)

	report := Report{GeneratedAt: now, Nodes: make([]NodeReport, 0, len(names)), Anomalies: []Anomaly{}}
	for _, name := range names {
		a := nodeAnalysis{name: name, node: nodeByName[name], now: now, opts: opts}
		nr := NodeReport{Name: name, Exists: a.node != nil}
		for _, kind := range kinds {
			recs := byNode[name][kind]
			nr.Records += len(recs)
			current := a.analyzeKind(kind, recs)
			switch kind {
			case v1alpha1.CertificateClient:
				nr.Client = current
			case v1alpha1.CertificateServing:
				nr.Serving = current
			}
		}
		report.Nodes = append(report.Nodes, nr)
		report.Anomalies = append(report.Anomalies, a.anomalies...)
	}
	slices.SortStableFunc(report.Anomalies, compareAnomalies)
	return report
}

// compareAnomalies orders anomalies by node, certificate kind, code, serial.
func compareAnomalies(a, b Anomaly) int {
	return cmp.Or(
		strings.Compare(a.Node, b.Node),
		cmp.Compare(slices.Index(kinds, a.CertificateKind), slices.Index(kinds, b.CertificateKind)),
		cmp.Compare(slices.Index(codes, a.Code), slices.Index(codes, b.Code)),
		strings.Compare(serialOf(a), serialOf(b)),
	)
}

func serialOf(a Anomaly) string {
	if a.Certificate == nil {
		return ""
	}
	return a.Certificate.SerialNumber
}

// nodeAnalysis collects the anomalies of one node.
type nodeAnalysis struct {
	name      string
	node      *corev1.Node // nil when the Node does not exist
	now       time.Time
	opts      Options
	anomalies []Anomaly
}

func (a *nodeAnalysis) add(code Code, kind v1alpha1.CertificateKind, cert *Certificate, message string) {
	an := Anomaly{Node: a.name, Code: code, CertificateKind: kind, Message: message}
	if cert != nil {
		an.Certificate = cert.Ref()
	}
	a.anomalies = append(a.anomalies, an)
}

// analyzeKind finds the anomalies of the node's certificates of one kind and
// returns its current certificate.
func (a *nodeAnalysis) analyzeKind(kind v1alpha1.CertificateKind, recs []*v1alpha1.NodeCertificate) *Certificate {
	current := a.summary(Current(recs, a.now))
	valid := a.valid(recs)
	if a.node != nil {
		a.checkCurrent(kind, current)
	} else {
		for _, c := range valid {
			a.add(CodeUnknownNode, kind, c, kindText(kind)+" certificate "+c.SerialNumber+", valid until "+
				stamp(c.NotAfter)+", is for node "+a.name+", which does not exist")
		}
	}
	for _, c := range valid {
		if c.Approval.By != v1alpha1.ActorNodetrust {
			a.add(CodeNotApprovedByNodetrust, kind, c, kindText(kind)+" certificate "+c.SerialNumber+", valid until "+
				stamp(c.NotAfter)+", was approved outside nodetrust"+approvalReason(c.Approval))
		}
	}
	a.checkBurst(kind, valid)
	return current
}

// checkCurrent reports expired, expiring, no-serving and san-mismatch for the
// current certificate of an existing node.
func (a *nodeAnalysis) checkCurrent(kind v1alpha1.CertificateKind, current *Certificate) {
	switch {
	case current == nil:
		if kind == v1alpha1.CertificateServing {
			a.add(CodeNoServing, kind, nil, "no serving certificate is on record for this node")
		}
	case current.Expired:
		a.add(CodeExpired, kind, current, kindText(kind)+" certificate "+current.SerialNumber+" expired "+
			Relative(current.NotAfter, a.now)+" ("+stamp(current.NotAfter)+") and no valid one is on record")
		if kind == v1alpha1.CertificateServing {
			a.add(CodeNoServing, kind, current, "no valid serving certificate is on record: the latest, "+
				current.SerialNumber+", expired "+Relative(current.NotAfter, a.now))
		}
	default:
		if current.NotAfter.Sub(a.now) <= a.opts.ExpiringWithin {
			a.add(CodeExpiring, kind, current, kindText(kind)+" certificate "+current.SerialNumber+" expires "+
				Relative(current.NotAfter, a.now)+" ("+stamp(current.NotAfter)+") and no newer one is on record")
		}
		if kind == v1alpha1.CertificateServing {
			if extra := sansNotOwned(current, a.node); len(extra) > 0 {
				a.add(CodeSANMismatch, kind, current, "serving certificate "+current.SerialNumber+" names "+
					strings.Join(extra, ", ")+", not among the Node's addresses ("+addressesText(a.node)+")")
			}
		}
	}
}

// checkBurst reports the busiest window of the valid certificates when it
// holds more than the threshold.
func (a *nodeAnalysis) checkBurst(kind v1alpha1.CertificateKind, valid []*Certificate) {
	if len(valid) <= a.opts.BurstThreshold {
		return
	}
	times := make([]time.Time, 0, len(valid))
	for _, c := range valid {
		times = append(times, c.RequestedAt)
	}
	slices.SortFunc(times, time.Time.Compare)
	best, bestStart, start := 0, 0, 0
	for end := range times {
		for times[end].Sub(times[start]) > a.opts.BurstWindow {
			start++
		}
		if n := end - start + 1; n > best {
			best, bestStart = n, start
		}
	}
	if best <= a.opts.BurstThreshold {
		return
	}
	first, last := times[bestStart], times[bestStart+best-1]
	a.add(CodeBurst, kind, nil, itoa(best)+" valid "+kindText(kind)+" certificates were requested within "+
		ShortDuration(a.opts.BurstWindow)+" (from "+stamp(first)+" to "+stamp(last)+"), more than the threshold of "+
		itoa(a.opts.BurstThreshold))
}

// RequestTime is the time a record's certificate was asked for, which burst
// detection goes by: the CSR's creation time, set by the API server, or the
// certificate's notBefore when the record has none.
func RequestTime(r *v1alpha1.NodeCertificate) time.Time {
	if !r.Spec.CSR.CreationTimestamp.IsZero() {
		return r.Spec.CSR.CreationTimestamp.Time
	}
	return r.Spec.NotBefore.Time
}

// Current returns the current certificate among recs, all of one node and
// kind, as of now: the latest notBefore among the records whose notAfter has
// not passed, else the latest notBefore among all; ties go to the later
// notAfter, then to the greater record name. It returns nil for no records.
func Current(recs []*v1alpha1.NodeCertificate, now time.Time) *v1alpha1.NodeCertificate {
	var best *v1alpha1.NodeCertificate
	for _, r := range recs {
		if best == nil || better(r, best, now) {
			best = r
		}
	}
	return best
}

// better reports whether r should be current rather than other.
func better(r, other *v1alpha1.NodeCertificate, now time.Time) bool {
	if rv, ov := !Expired(r, now), !Expired(other, now); rv != ov {
		return rv
	}
	c := cmp.Or(
		r.Spec.NotBefore.Compare(other.Spec.NotBefore.Time),
		r.Spec.NotAfter.Compare(other.Spec.NotAfter.Time),
		strings.Compare(r.Name, other.Name),
	)
	return c > 0
}

// Expired reports whether r's certificate had expired at now: its notAfter
// is before now.
func Expired(r *v1alpha1.NodeCertificate, now time.Time) bool {
	return r.Spec.NotAfter.Time.Before(now)
}

// valid returns the summaries of the unexpired records, sorted by serial.
func (a *nodeAnalysis) valid(recs []*v1alpha1.NodeCertificate) []*Certificate {
	var out []*Certificate
	for _, r := range recs {
		if !Expired(r, a.now) {
			out = append(out, a.summary(r))
		}
	}
	slices.SortFunc(out, func(x, y *Certificate) int {
		return cmp.Or(strings.Compare(x.SerialNumber, y.SerialNumber), strings.Compare(x.Record, y.Record))
	})
	return out
}

func (a *nodeAnalysis) summary(r *v1alpha1.NodeCertificate) *Certificate {
	if r == nil {
		return nil
	}
	return &Certificate{
		Record:            r.Name,
		Kind:              r.Spec.Kind,
		SerialNumber:      r.Spec.SerialNumber,
		SHA256Fingerprint: r.Spec.SHA256Fingerprint,
		SignerName:        r.Spec.SignerName,
		NotBefore:         r.Spec.NotBefore.Time,
		NotAfter:          r.Spec.NotAfter.Time,
		Expired:           Expired(r, a.now),
		DNSNames:          slices.Clone(r.Spec.DNSNames),
		IPAddresses:       slices.Clone(r.Spec.IPAddresses),
		CSR:               r.Spec.CSR.Name,
		RequestedAt:       RequestTime(r),
		Approval:          *r.Spec.Approval.DeepCopy(),
		Issuance:          r.Spec.Issuance,
	}
}
