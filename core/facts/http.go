package facts

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/tocsin-dev/tocsin/core/buildinfo"
	"github.com/tocsin-dev/tocsin/core/hcldecode"
)

// KindHTTP is the kind that checks that an HTTP(S) URL answers as expected.
const KindHTTP Kind = "http"

// HTTPSpec is a check that an HTTP(S) URL answers with an expected status.
type HTTPSpec struct {
	// URL is an http or https URL.
	URL string
	// Method is the request method; default GET.
	Method string
	// Headers are sent with the request; "Host" sets the request's host.
	Headers map[string]string
	// ExpectStatus lists the acceptable status codes; empty accepts any
	// 2xx. Redirects are followed, so the status is the final one.
	ExpectStatus []int
	// CAFile is a PEM file of the certificate authorities to trust instead
	// of the system's.
	CAFile string
	// TLSSkipVerify switches certificate verification off.
	TLSSkipVerify bool
	// MaxBody caps how much of the body is read; default
	// DefaultHTTPMaxBody.
	MaxBody int64
}

// DefaultHTTPMaxBody is HTTPSpec.MaxBody when it is left zero.
const DefaultHTTPMaxBody = 1 << 20

func init() {
	register(30, &kindDef{
		name: KindHTTP,
		args: []Arg{
			{Name: "http", Main: true, Type: cty.String, Field: "http.url", Set: func(s *Spec, v cty.Value, _ ArgContext) error {
				s.HTTP = &HTTPSpec{URL: v.AsString()}
				return nil
			}},
			{Name: "method", Type: cty.String, Field: "http.method", Set: setString(func(s *Spec) *string { return &s.HTTP.Method })},
			{Name: "headers", Type: cty.Map(cty.String), Field: "http.headers", Set: func(s *Spec, v cty.Value, _ ArgContext) error {
				s.HTTP.Headers = map[string]string{}
				for k, e := range v.AsValueMap() {
					s.HTTP.Headers[k] = e.AsString()
				}
				return nil
			}},
			{Name: "expect_status", Type: cty.List(cty.Number), Field: "http.expect_status", Set: func(s *Spec, v cty.Value, _ ArgContext) error {
				for _, e := range v.AsValueSlice() {
					n, ok := hcldecode.WholeNumber(e)
					if !ok {
						return &ArgError{Summary: "Invalid status", Detail: "expect_status holds whole HTTP status codes, such as [200, 204]."}
					}
					s.HTTP.ExpectStatus = append(s.HTTP.ExpectStatus, int(n))
				}
				return nil
			}},
			{Name: "ca_file", Type: cty.String, Set: setPath(func(s *Spec) *string { return &s.HTTP.CAFile })},
			{Name: "tls_skip_verify", Type: cty.Bool, Set: setBool(func(s *Spec) *bool { return &s.HTTP.TLSSkipVerify })},
			maxBytesArg("http.max_body", func(s *Spec) *int64 { return &s.HTTP.MaxBody }),
		},
		values: map[string]cty.Type{
			"url":     cty.String,
			"status":  cty.Number,
			"body":    cty.String,
			"json":    cty.DynamicPseudoType,
			"headers": cty.Map(cty.String),
		},
		has: func(s Spec) bool { return s.HTTP != nil },
		defaults: func(s Spec) Spec {
			c := *s.HTTP
			c.Headers = maps.Clone(c.Headers)
			c.ExpectStatus = slices.Clone(c.ExpectStatus)
			if c.Method == "" {
				c.Method = http.MethodGet
			}
			if c.MaxBody == 0 {
				c.MaxBody = DefaultHTTPMaxBody
			}
			s.HTTP = &c
			return s
		},
		valid: func(s Spec, add addFunc) {
			h := s.HTTP
			if err := checkURL(h.URL); err != nil {
				add("http.url", "%v", err)
			}
			if !validToken(h.Method) {
				add("http.method", "%q is not an HTTP method", h.Method)
			}
			for _, code := range h.ExpectStatus {
				if code < 100 || code > 599 {
					add("http.expect_status", "%d is not an HTTP status (100 to 599)", code)
				}
			}
			for name := range h.Headers {
				if !validToken(name) {
					add("http.headers", "%q is not a header name", name)
				}
			}
			if h.MaxBody < 0 {
				add("http.max_body", "must be positive, not %d", h.MaxBody)
			}
		},
		baseFn: func(s Spec, v map[string]cty.Value) {
			if s.HTTP != nil {
				v["url"] = stringVal(redactURL(s.HTTP.URL))
			}
		},
		run: checkHTTP,
	})
}

// userAgent identifies the agent's requests.
func userAgent() string { return "tocsin/" + buildinfo.Version }

// newTransport returns a transport for one run: no connection is kept or
// reused, so every run measures a fresh connection. caFile, when set,
// replaces the system's certificate authorities; field names the setting
// in errors ("http.ca_file"). Proxies come from the environment
// (HTTPS_PROXY, NO_PROXY, ...), as for every Go program.
func newTransport(field, caFile string, skipVerify bool) (*http.Transport, error) {
	tc := &tls.Config{InsecureSkipVerify: skipVerify} //nolint:gosec // the operator asked for it
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate in %s", field, caFile)
		}
		tc.RootCAs = pool
	}
	return transportWith(tc), nil
}

// transportWith is a check's HTTP transport with the TLS settings tc: one
// connection per check, through the environment's proxy.
func transportWith(tc *tls.Config) *http.Transport {
	return &http.Transport{
		Proxy:             http.ProxyFromEnvironment,
		TLSClientConfig:   tc,
		DisableKeepAlives: true,
		ForceAttemptHTTP2: true,
	}
}

// checkHTTP sends the request and compares the final status with the
// expected ones. Values: url, status, body (cut at max_body), json (the
// body parsed when the response says it is JSON and it parses; else null),
// headers (lower-case name to first value).
func checkHTTP(ctx context.Context, s Spec, _ *env, v map[string]cty.Value) error {
	h := s.HTTP
	tr, err := newTransport("http.ca_file", h.CAFile, h.TLSSkipVerify)
	if err != nil {
		return err
	}
	defer tr.CloseIdleConnections()
	shown := redactURL(h.URL)
	req, err := http.NewRequestWithContext(ctx, h.Method, h.URL, nil)
	if err != nil {
		return fmt.Errorf("http.url: %w", err)
	}
	req.Header.Set("User-Agent", userAgent())
	for name, value := range h.Headers {
		if strings.EqualFold(name, "Host") {
			req.Host = value
			continue
		}
		req.Header.Set(name, value)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	v["status"] = cty.NumberIntVal(int64(resp.StatusCode))
	v["headers"] = headerMap(resp.Header)

	body, truncated, err := readCapped(ctx, resp.Body, h.MaxBody)
	v["body"] = stringVal(string(body))
	if err != nil {
		return fmt.Errorf("read body of %s: %w", shown, err)
	}
	if !truncated && isJSONType(resp.Header.Get("Content-Type")) {
		if jv, err := jsonValue(body); err == nil {
			v["json"] = jv
		}
	}
	if !statusExpected(resp.StatusCode, h.ExpectStatus) {
		return fmt.Errorf("%s %s: status %s, want %s", h.Method, shown, resp.Status, wantStatus(h.ExpectStatus))
	}
	return nil
}

// headerMap returns each header's first value under its lower-case name.
func headerMap(hdr http.Header) cty.Value {
	if len(hdr) == 0 {
		return cty.MapValEmpty(cty.String)
	}
	m := make(map[string]cty.Value, len(hdr))
	for name, values := range hdr {
		if len(values) > 0 {
			m[strings.ToLower(name)] = stringVal(values[0])
		}
	}
	if len(m) == 0 {
		return cty.MapValEmpty(cty.String)
	}
	return cty.MapVal(m)
}

// isJSONType reports whether a Content-Type names JSON:
// application/json or any type with a +json suffix.
func isJSONType(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// statusExpected reports whether code is among want, or a 2xx when want
// is empty.
func statusExpected(code int, want []int) bool {
	if len(want) == 0 {
		return code >= 200 && code <= 299
	}
	return slices.Contains(want, code)
}

func wantStatus(want []int) string {
	switch len(want) {
	case 0:
		return "2xx"
	case 1:
		return strconv.Itoa(want[0])
	}
	s := make([]string, len(want))
	for i, c := range want {
		s[i] = strconv.Itoa(c)
	}
	return "one of " + strings.Join(s, ", ")
}
