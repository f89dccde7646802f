package identity_test

import (
	"fmt"

	"github.com/tocsin-dev/tocsin/core/identity"
)

// What openssl x509 -noout -fingerprint -sha256 prints reads as the
// fingerprint tocsin identity prints.
func ExampleParseFingerprint() {
	sum, err := identity.ParseFingerprint("sha256 Fingerprint=7C:3B:AD:22:C8:8E:FF:4B:66:F4:90:67:18:AC:DB:72:56:F7:B3:F7:23:CB:A8:50:3A:5C:25:77:6F:C7:9B:58")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("sha256:%x\n", sum)
	// Output: sha256:7c3bad22c88eff4b66f4906718acdb7256f7b3f723cba8503a5c25776fc79b58
}

// A peer link that trusts only the partner's pinned certificate and
// presents this agent's own identity.
func ExampleClientConfig() {
	pin := "sha256:7c3bad22c88eff4b66f4906718acdb7256f7b3f723cba8503a5c25776fc79b58"
	cfg, err := identity.ClientConfig(pin, "", nil) // nil: present no certificate
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.MinVersion == 0x0303, cfg.VerifyConnection != nil)
	// Output: true true
}
