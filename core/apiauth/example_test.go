package apiauth_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/tocsin-dev/tocsin/core/apiauth"
)

// A scraper with the read role may read the status, not the outbox.
func ExampleAuthenticator_Require() {
	prom, err := apiauth.NewToken("prometheus", apiauth.RoleRead, "0123456789abcdef0123456789abcdef")
	if err != nil {
		panic(err)
	}
	a, err := apiauth.NewAuthenticator([]apiauth.Credential{prom})
	if err != nil {
		panic(err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := apiauth.PrincipalFrom(r.Context())
		fmt.Fprintf(w, "hello %s\n", p.Name)
	})
	mux := http.NewServeMux()
	mux.Handle("GET /v1/status", a.Require(apiauth.RoleRead, ok))
	mux.Handle("GET /v1/outbox", a.Require(apiauth.RoleAdmin, ok))

	for _, path := range []string{"/v1/status", "/v1/outbox"} {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Authorization", "Bearer 0123456789abcdef0123456789abcdef")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		fmt.Print(rec.Code, " ", rec.Body.String())
	}
	// Output:
	// 200 hello prometheus
	// 403 {"error":"the credential \"prometheus\" has the read role; this endpoint needs admin: use a credential with the admin role (see README, Security)"}
}
