// Package testserver provides in-process stand-ins for the mail servers that
// Tocsin transport plugins talk to, for integration tests of the agent and of
// third-party plugins.
//
// The servers are real: [Start] runs an emersion/go-smtp server on
// 127.0.0.1 (never any other address) with a kernel-chosen port, and TLS uses
// certificates from a throw-away [CA] generated in memory. Nothing is
// mocked; a plugin connects with its production code path, pointed at
// [Server.Addr] and trusting the CA (through [CA.WriteCertFile] for a
// ca_file setting, or [CA.ClientPool]).
//
// A server can offer STARTTLS or implicit TLS, require authentication
// (PLAIN, LOGIN and CRAM-MD5 against [Options.Users], plus any mechanism in
// [Options.Mechanisms]), and fail chosen commands through a [Fault]. It
// records every accepted message as a [Received], with the connection it
// came on, whether that connection was TLS and who authenticated.
//
// A typical test:
//
//	ca, err := testserver.NewCA()
//	if err != nil {
//		t.Fatal(err)
//	}
//	tlsConfig, err := ca.ServerTLSConfig()
//	if err != nil {
//		t.Fatal(err)
//	}
//	srv := testserver.StartT(t, testserver.Options{
//		TLS:   tlsConfig,
//		Users: map[string]string{"alice": "secret"},
//	})
//	caFile, err := ca.WriteCertFile(t.TempDir())
//	if err != nil {
//		t.Fatal(err)
//	}
//	// ... configure the plugin with srv.Host(), srv.Port(), caFile,
//	// "alice"/"secret", and send ...
//	msgs, err := srv.Wait(ctx, 1)
//	if err != nil {
//		t.Fatal(err)
//	}
//	if !msgs[0].TLS || msgs[0].User != "alice" {
//		t.Errorf("got %+v", msgs[0])
//	}
//
// To make the first attempt fail with a temporary error and let the retry
// through:
//
//	srv.SetFault(func(stage testserver.Stage, conn, msg int) *smtp.SMTPError {
//		if stage == testserver.StageData && msg == 1 {
//			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again"}
//		}
//		return nil
//	})
package testserver
