package notify

import (
	"strings"
	"testing"
	"time"
)

func TestNewMessageID(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		node, domain string
	}{
		{"appliance-b", "appliance-b"},
		{"node one\r\n<x>", "nodeonex"},
		{"", "tocsin.invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.node, func(t *testing.T) {
			id := NewMessageID(tt.node, now)
			if !strings.HasPrefix(id, "20261123T100000Z.") || !strings.HasSuffix(id, "@"+tt.domain) {
				t.Errorf("id = %q", id)
			}
			if strings.ContainsAny(id, "<> \r\n") {
				t.Errorf("id %q has characters a Message-ID cannot hold", id)
			}
		})
	}
	a, b := NewMessageID("n", now), NewMessageID("n", now)
	if a == b {
		t.Errorf("two ids for the same node and time are equal: %s", a)
	}
}
