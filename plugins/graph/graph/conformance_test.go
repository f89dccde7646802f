package graph_test

import (
	"testing"

	"github.com/tocsin-dev/tocsin/plugins/graph/graph"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
)

// TestConformance runs the SDK's conformance kit against the graph
// transport, delivering to the Graph stand-in with tokens from the
// identity platform stand-in, both over TLS from a throw-away CA. The
// stand-in records JSON requests; the kit reads them rendered as the
// messages Exchange would deliver (graphRFC822).
func TestConformance(t *testing.T) {
	sdktest.RunConformance(t, func() sdk.Transport { return graph.New("test") }, sdktest.Conformance{
		From: mailbox,
		Target: func(t *testing.T) (map[string]any, func() [][]byte) {
			e := newEnv(t, envOptions{})
			return e.settings(nil), func() [][]byte {
				var raw [][]byte
				for _, gm := range e.graph.Messages() {
					if b := graphRFC822(gm); b != nil {
						raw = append(raw, b)
					}
				}
				return raw
			}
		},
		Secrets: []string{secret},
	})
}
