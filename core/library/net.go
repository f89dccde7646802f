package library

import (
	"errors"
	"net"
	"net/url"
	"strings"

	"github.com/tocsin-dev/tocsin/core/facts"
)

// selfURL is the agent's own health endpoint, reached on loopback when
// it listens on every address (127.0.0.1:9870 when listen is empty).
func selfURL(listen string, tlsOn bool) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		host, port = "127.0.0.1", "9870"
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	scheme := "http://"
	if tlsOn {
		scheme = "https://"
	}
	return scheme + net.JoinHostPort(host, port) + "/healthz"
}

// hostPort returns host with the port of peerURL (80 or 443 by its
// scheme when it has none), unless host has a port of its own.
func hostPort(host, peerURL string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	port := "80"
	if u, err := url.Parse(peerURL); err == nil {
		switch {
		case u.Port() != "":
			port = u.Port()
		case u.Scheme == "https":
			port = "443"
		}
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), port)
}

// fieldProblem returns the problems of a facts.Spec error without the
// check's name, which the message names itself.
func fieldProblem(err error) string {
	list := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	}
	var parts []string
	for _, e := range list {
		var fe *facts.FieldError
		if errors.As(e, &fe) {
			parts = append(parts, fe.Problem)
			continue
		}
		parts = append(parts, e.Error())
	}
	return strings.Join(parts, "; ")
}
