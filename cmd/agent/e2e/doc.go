// Package e2e holds the end-to-end suite that runs the real tocsin binary
// and its bundled plugins against real Postfix, Dovecot and Alertmanager
// instances on 127.0.0.1 (`make e2e`). Its tests live in the _test.go
// files and run only with TOCSIN_E2E=1; see mailserver_test.go for how the
// mail servers are set up, alertmanager_test.go for the Alertmanager
// cluster, and oauth_test.go for the OAuth token endpoints.
package e2e
