package pluginhost_test

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/pluginhost"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// withAttachment returns a message with an attachment of n bytes.
func withAttachment(id string, n int) *sdk.Message {
	m := message(id, "ops@example.com")
	m.Attachments = []sdk.Attachment{{Filename: "tail.log", ContentType: "text/plain", Data: bytes.Repeat([]byte("x"), n)}}
	return m
}

// TestSMTPBasic_BatchOver4MiB: 30 rules each attaching a 400 KB log make a
// batch of about 12 MB, which used to fail with gRPC's ResourceExhausted
// ("received message larger than max (4197996 vs. 4194304)") and the
// remedy "The plugin process did not answer".
func TestSMTPBasic_BatchOver4MiB(t *testing.T) {
	srv := testserver.StartT(t, testserver.Options{})
	h, _ := newHost(t)
	in, diags := configure(t, h, map[string]any{"host": srv.Host(), "port": srv.Port(), "security": "none"})
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	var msgs []*sdk.Message
	for i := range 30 {
		msgs = append(msgs, withAttachment(fmt.Sprintf("r%d@test", i), 400_000))
	}
	res, err := in.Send(ctx(t), msgs)
	if err != nil {
		t.Fatalf("send: %v (remedy %q)", err, sdk.AsDeliveryError(err).Remedy)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Errorf("message %d: %v", i, r.Err)
		}
	}
	if _, err := srv.Wait(ctx(t), 30); err != nil {
		t.Fatal(err)
	}
}

// TestSMTPBasic_Single5MiB: one message of 5 MiB goes through.
func TestSMTPBasic_Single5MiB(t *testing.T) {
	srv := testserver.StartT(t, testserver.Options{})
	h, _ := newHost(t)
	in, diags := configure(t, h, map[string]any{"host": srv.Host(), "port": srv.Port(), "security": "none"})
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	res, err := in.Send(ctx(t), []*sdk.Message{withAttachment("big@test", 5<<20)})
	if err == nil {
		err = res[0].Err
	}
	if err != nil {
		t.Fatalf("send: %v (remedy %q)", err, sdk.AsDeliveryError(err).Remedy)
	}
	if _, err := srv.Wait(ctx(t), 1); err != nil {
		t.Fatal(err)
	}
}

// TestSMTPBasic_SingleMessageOverTheLimit: a message larger than any
// plugin takes is not sent; the error is permanent and its remedy names
// the size and the limit.
func TestSMTPBasic_SingleMessageOverTheLimit(t *testing.T) {
	srv := testserver.StartT(t, testserver.Options{})
	h, _ := newHost(t)
	in, diags := configure(t, h, map[string]any{"host": srv.Host(), "port": srv.Port(), "security": "none"})
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	m := withAttachment("huge@test", maxRequest+1)
	_, err := in.Send(ctx(t), []*sdk.Message{m})
	if err == nil {
		t.Fatal("a message over the limit was sent")
	}
	de := sdk.AsDeliveryError(err)
	if de.Kind != sdk.Permanent {
		t.Errorf("kind = %v, want permanent (%v)", de.Kind, err)
	}
	for _, want := range []string{strconv.Itoa(sdk.MessageSize(m)), strconv.Itoa(maxRequest)} {
		if !strings.Contains(de.Remedy, want) {
			t.Errorf("remedy %q does not name %s", de.Remedy, want)
		}
	}
	if len(srv.Messages()) != 0 {
		t.Error("the server received it")
	}
}

// checkCapped fails when a text a plugin returned reaches the agent longer
// than the SDK's cap, or cut without saying so.
func checkCapped(t *testing.T, what, s string) {
	t.Helper()
	if len(s) > maxText {
		t.Errorf("%s is %d bytes; the agent must cap it at %d", what, len(s), maxText)
	}
	if !strings.Contains(s, "cut") {
		t.Errorf("%s was cut without saying so: ...%q", what, s[max(0, len(s)-80):])
	}
}

// TestHost_HugeErrorReplyIsCapped: a plugin returning a 50 MB reply, error
// text and remedy (which drove the agent to 1 GB) reaches the agent cut
// to the documented size, with a marker.
func TestHost_HugeErrorReplyIsCapped(t *testing.T) {
	dir := sdktest.PluginDir(t, map[string]string{"bigreply": testdataPkg + "bigreply"})
	h := pluginhost.New(hclog.NewNullLogger(), dir)
	defer h.Close()
	in := h.Instance(pluginhost.Spec{Name: "b", Plugin: "bigreply"})
	_, err := in.Send(ctx(t), []*sdk.Message{message("a@test", "ops@example.com")})
	if err == nil {
		t.Fatal("want the plugin's error")
	}
	de := sdk.AsDeliveryError(err)
	if strings.Contains(de.Remedy, "did not answer") {
		t.Fatalf("the plugin's answer did not arrive: %v (%s)", err, de.Remedy)
	}
	checkCapped(t, "reply", de.Reply)
	checkCapped(t, "remedy", de.Remedy)
	checkCapped(t, "error text", de.Err.Error())
	if len(err.Error()) > 2*maxText {
		t.Errorf("error is %d bytes", len(err.Error()))
	}

	res, err := in.Send(ctx(t), []*sdk.Message{message("a@test", "ops@example.com"), message("b@test", "ops@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		checkCapped(t, fmt.Sprintf("receipt %d", i), r.Receipt)
	}

	if err := in.Check(ctx(t)); err == nil {
		t.Error("check: want the plugin's error")
	} else {
		checkCapped(t, "check reply", sdk.AsDeliveryError(err).Reply)
	}
}

// TestHost_OversizedAnswerIsRefused: a plugin without the SDK's caps
// answers with a 50 MB reply. The agent refuses to read it, and says that
// the plugin answered too much, not that it did not answer.
func TestHost_OversizedAnswerIsRefused(t *testing.T) {
	dir := sdktest.PluginDir(t, map[string]string{"rawreply": "github.com/tocsin-dev/tocsin/plugins/sdk/internal/rawreply"})
	h := pluginhost.New(hclog.NewNullLogger(), dir)
	defer h.Close()
	in := h.Instance(pluginhost.Spec{Name: "r", Plugin: "rawreply"})
	m := message("a@test", "ops@example.com")
	m.Subject = "big-reply"
	_, err := in.Send(ctx(t), []*sdk.Message{m})
	if err == nil {
		t.Fatal("want an error")
	}
	de := sdk.AsDeliveryError(err)
	if len(err.Error())+len(de.Reply) > 2*maxText {
		t.Fatalf("the agent took %d bytes of the answer", len(err.Error())+len(de.Reply))
	}
	if strings.Contains(de.Remedy, "did not answer") || !strings.Contains(de.Remedy, "bug in the plugin") {
		t.Errorf("remedy = %q; want it to blame the plugin's answer", de.Remedy)
	}
	if de.Kind != sdk.Temporary {
		t.Errorf("kind = %v: whether the message went out is unknown, so it is tried again", de.Kind)
	}
}

// TestHost_OldPluginGetsWhatItTakes: a plugin that does not report its
// limit takes gRPC's default of 4 MiB. A batch over it is split into
// calls that fit; a single message over it is a permanent error that
// names the size and the limit, and never reaches the plugin.
func TestHost_OldPluginGetsWhatItTakes(t *testing.T) {
	dir := sdktest.PluginDir(t, map[string]string{"rawreply": "github.com/tocsin-dev/tocsin/plugins/sdk/internal/rawreply"})
	h := pluginhost.New(hclog.NewNullLogger(), dir)
	defer h.Close()
	in := h.Instance(pluginhost.Spec{Name: "r", Plugin: "rawreply"})
	d, err := in.Describe(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if d.MaxMessageBytes != 0 || d.MessageLimit() != 4<<20 {
		t.Fatalf("limit = %d/%d, want 0 and gRPC's 4 MiB", d.MaxMessageBytes, d.MessageLimit())
	}

	msgs := []*sdk.Message{withAttachment("a@test", 2<<20), withAttachment("b@test", 2<<20), withAttachment("c@test", 1<<20), withAttachment("d@test", 5<<20)}
	res, err := in.Send(ctx(t), msgs)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	for i, r := range res[:3] {
		if r.Err != nil || r.MessageID != msgs[i].ID {
			t.Errorf("result %d: %+v", i, r)
		}
	}
	if res[0].Receipt != "in a call of 1" || res[1].Receipt != "in a call of 2" || res[2].Receipt != "in a call of 2" {
		t.Errorf("calls: %q %q %q; want a, then b and c", res[0].Receipt, res[1].Receipt, res[2].Receipt)
	}
	if de := sdk.AsDeliveryError(res[3].Err); de == nil || de.Kind != sdk.Permanent || !strings.Contains(de.Remedy, "4194304") {
		t.Errorf("the 5 MiB message: %v; want a permanent error naming the 4 MiB limit", res[3].Err)
	}

	_, err = in.Send(ctx(t), []*sdk.Message{msgs[3]})
	de := sdk.AsDeliveryError(err)
	if de == nil || de.Kind != sdk.Permanent {
		t.Fatalf("a single 5 MiB message: %v; want a permanent error", err)
	}
	for _, want := range []string{strconv.Itoa(sdk.MessageSize(msgs[3])), "4194304"} {
		if !strings.Contains(de.Remedy, want) {
			t.Errorf("remedy %q does not name %s", de.Remedy, want)
		}
	}
}
