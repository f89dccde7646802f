package sdk

import (
	"context"
	"time"

	pb "github.com/tocsin-dev/tocsin/plugins/sdk/internal/transportv1"
)

// CredentialLifetime is what a transport knows of when the credential it
// was configured with expires: a certificate's NotAfter, an API key's
// expiry date.
type CredentialLifetime struct {
	// Expires is when the credential stops working.
	Expires time.Time
	// What names the credential for the operator, such as "API key
	// alerts-2026"; never the secret itself.
	What string
}

// CredentialReporter is implemented by a transport that knows when its
// credential expires. The SDK asks it after each Configure that returned
// no error diagnostics and sends the answer along with Configure's; the
// agent makes it the transport's credential fact (credential.NAME, source
// "plugin"), which the library's credential_expiring rule reads. A nil
// lifetime, or an error, says nothing.
//
// On the agent's side, the Transport the SDK's client returns implements
// it too, returning what the plugin said with its last Configure: nil
// from a plugin that does not implement it, or was built before it
// existed (the field is optional on the wire, protocol version 1).
type CredentialReporter interface {
	CredentialLifetime(ctx context.Context) (*CredentialLifetime, error)
}

// lifetimeToProto is l on the wire; nil stays nil.
func lifetimeToProto(l *CredentialLifetime) *pb.CredentialLifetime {
	if l == nil || l.Expires.IsZero() {
		return nil
	}
	return &pb.CredentialLifetime{ExpiresUnix: l.Expires.Unix(), What: l.What}
}

// lifetimeFromProto is p from the wire; nil (not set) stays nil.
func lifetimeFromProto(p *pb.CredentialLifetime) *CredentialLifetime {
	if p == nil || p.GetExpiresUnix() == 0 {
		return nil
	}
	return &CredentialLifetime{Expires: time.Unix(p.GetExpiresUnix(), 0).UTC(), What: p.GetWhat()}
}

// CredentialLifetime returns what the plugin said of its credential's
// lifetime with its last Configure, nil when it said nothing.
func (c *grpcClient) CredentialLifetime(context.Context) (*CredentialLifetime, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lifetime == nil {
		return nil, nil
	}
	l := *c.lifetime
	return &l, nil
}

// lifetime asks impl for its credential's lifetime, when it tells.
func (s *grpcServer) lifetime(ctx context.Context, diags Diagnostics) *pb.CredentialLifetime {
	r, ok := s.impl.(CredentialReporter)
	if !ok || diags.HasErrors() {
		return nil
	}
	l, err := r.CredentialLifetime(ctx)
	if err != nil {
		s.logger.Warn("the transport cannot say when its credential expires", "error", err)
		return nil
	}
	return lifetimeToProto(l)
}
