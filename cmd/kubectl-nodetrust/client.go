package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/go-logr/logr"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
)

// userAgent identifies the plugin in the API server's audit log.
const userAgent = "kubectl-nodetrust"

// pageSize is how many objects one list request asks for.
const pageSize = 500

// newScheme knows the objects the plugin reads.
func newScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, certificatesv1.AddToScheme, v1alpha1.AddToScheme} {
		if err := add(s); err != nil {
			return nil, fmt.Errorf("building the scheme: %w", err)
		}
	}
	return s, nil
}

// restConfig loads the client configuration the way kubectl does:
// --kubeconfig, else KUBECONFIG, else ~/.kube/config, else in-cluster;
// --context overrides the current context.
func restConfig(f *clusterFlags, warnings io.Writer) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = f.kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: f.context}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading the kubeconfig: %w", err)
	}
	cfg.UserAgent = userAgent
	cfg.Timeout = time.Duration(f.requestTimeout)
	cfg.WarningHandler = rest.NewWarningWriter(warnings, rest.WarningWriterOptions{Deduplicate: true})
	return cfg, nil
}

// newClient returns an uncached client for the cluster f points at.
func newClient(f *clusterFlags, warnings io.Writer) (client.Client, error) {
	cfg, err := restConfig(f, warnings)
	if err != nil {
		return nil, err
	}
	scheme, err := newScheme()
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme, Log: logr.Discard()})
	if err != nil {
		return nil, fmt.Errorf("creating a client for %s: %w", cfg.Host, err)
	}
	return c, nil
}

// listPages lists in pages of pageSize, handing each page to collect.
func listPages(ctx context.Context, c client.Reader, newList func() client.ObjectList, collect func(client.ObjectList), opts ...client.ListOption) error {
	cont := ""
	for {
		list := newList()
		if err := c.List(ctx, list, append(opts, client.Limit(pageSize), client.Continue(cont))...); err != nil {
			return err //nolint:wrapcheck // callers say what they listed
		}
		collect(list)
		if cont = list.GetContinue(); cont == "" {
			return nil
		}
	}
}

func listRecords(ctx context.Context, c client.Reader) ([]v1alpha1.NodeCertificate, error) {
	var out []v1alpha1.NodeCertificate
	err := listPages(ctx, c, func() client.ObjectList { return &v1alpha1.NodeCertificateList{} },
		func(l client.ObjectList) { out = append(out, l.(*v1alpha1.NodeCertificateList).Items...) })
	if err != nil {
		return nil, explain(fmt.Errorf("listing NodeCertificates: %w", err), "nodecertificates.nodetrust.io")
	}
	return out, nil
}

func listNodes(ctx context.Context, c client.Reader) ([]corev1.Node, error) {
	var out []corev1.Node
	err := listPages(ctx, c, func() client.ObjectList { return &corev1.NodeList{} },
		func(l client.ObjectList) { out = append(out, l.(*corev1.NodeList).Items...) })
	if err != nil {
		return nil, explain(fmt.Errorf("listing Nodes: %w", err), "nodes")
	}
	return out, nil
}

func listCSRs(ctx context.Context, c client.Reader, opts ...client.ListOption) ([]certificatesv1.CertificateSigningRequest, error) {
	var out []certificatesv1.CertificateSigningRequest
	err := listPages(ctx, c, func() client.ObjectList { return &certificatesv1.CertificateSigningRequestList{} },
		func(l client.ObjectList) {
			out = append(out, l.(*certificatesv1.CertificateSigningRequestList).Items...)
		}, opts...)
	if err != nil {
		return nil, explain(fmt.Errorf("listing CertificateSigningRequests: %w", err), "certificatesigningrequests.certificates.k8s.io")
	}
	return out, nil
}

// explain adds what to do to the errors people hit most.
func explain(err error, resource string) error {
	switch {
	case meta.IsNoMatchError(err):
		return fmt.Errorf("%w: the cluster does not serve %s; is nodetrust installed (its CRDs)?", err, resource)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%w: your account needs the list verb on %s (see docs/audit.md)", err, resource)
	case errors.Is(err, context.DeadlineExceeded), apierrors.IsTimeout(err):
		return fmt.Errorf("%w (raise --request-timeout?)", err)
	default:
		return err
	}
}
