package server

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
)

// hostCheck keeps DNS rebinding away: a page in a browser on the agent's
// host (or on the peer's network) can make the browser call the agent
// under a name the attacker controls, which then resolves to the agent's
// address. The browser sends that name as the Host header, so the server
// answers only requests whose Host is an IP address, localhost, or a name
// the server was told is its own. A request without a Host (HTTP/1.0)
// passes: a browser always sends one.
//
// /healthz is exempt: it reveals only liveness, and it is what probes
// (the CLI's, a load balancer's, a peer's) call by whatever name they
// know the agent by.
type hostCheck struct {
	names map[string]bool // lower case, without a trailing dot
}

// newHostCheck returns the check for the allowed names, each a DNS name
// with or without a port.
func newHostCheck(names []string) (hostCheck, error) {
	h := hostCheck{names: make(map[string]bool, len(names))}
	for _, n := range names {
		name, ok := hostName(n)
		if !ok {
			return hostCheck{}, fmt.Errorf("allowed host %q is not a host name", n)
		}
		h.names[name] = true
	}
	return h, nil
}

// hostName returns the host name of n, a name with or without a port, in
// lower case without a trailing dot; false when n is not a name.
func hostName(n string) (string, bool) {
	name := n
	if host, _, err := net.SplitHostPort(n); err == nil {
		name = host
	}
	name = canonicalHost(name)
	return name, name != "" && !strings.ContainsAny(n, " \t/\\@?#[]%")
}

// OwnNames returns the names, for Handlers.Hosts, that an agent named node
// and listening on listen (host:port) is called by: node, and the host of
// listen, each when it is a host name. IP addresses are allowed anyway;
// what is not a name (a node called "web 1") is left out.
func OwnNames(node, listen string) []string {
	var names []string
	candidates := []string{node}
	if host, _, err := net.SplitHostPort(listen); err == nil {
		candidates = append(candidates, host)
	}
	for _, c := range candidates {
		if _, err := netip.ParseAddr(c); err == nil {
			continue
		}
		if name, ok := hostName(c); ok && name != "localhost" && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return names
}

// canonicalHost is name in lower case without a trailing dot.
func canonicalHost(name string) string {
	return strings.TrimSuffix(strings.ToLower(name), ".")
}

// allowed reports whether host, a Host header, names this server.
func (h hostCheck) allowed(host string) bool {
	if host == "" {
		return true
	}
	name := host
	if hn, _, err := net.SplitHostPort(host); err == nil {
		name = hn
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		// An IPv6 literal without a port.
		name = host[1 : len(host)-1]
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return true
	}
	name = canonicalHost(name)
	return name == "localhost" || h.names[name]
}

// wrap answers 421 Misdirected Request, with a JSON error, to a request
// whose Host is not allowed; next serves the others, and /healthz. A
// request that carries a credential (an Authorization header, or a TLS
// client certificate) is judged by it instead: a page a browser was
// rebound to holds none, and a peer may call this agent by any name its
// peer_url gives.
func (h hostCheck) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" && !carriesCredential(r) && !h.allowed(r.Host) {
			writeError(w, http.StatusMisdirectedRequest, fmt.Sprintf(
				"this agent does not answer for the host name %.100q (a defence against DNS rebinding); call it by its IP address or as localhost, or have the agent list the name among its allowed hosts", r.Host))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// carriesCredential reports whether r presents a credential: an
// Authorization header or a TLS client certificate.
func carriesCredential(r *http.Request) bool {
	return r.Header.Get("Authorization") != "" || (r.TLS != nil && len(r.TLS.PeerCertificates) > 0)
}
