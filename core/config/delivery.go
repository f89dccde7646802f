package config

import (
	"fmt"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/tocsin-dev/tocsin/core/delivery"
)

// Delivery is the delivery block: how the agent retries notifications
// from its outbox. Zero fields take the defaults of DefaultDelivery.
type Delivery struct {
	// RetryInitial is the wait before the first retry on a transport.
	RetryInitial time.Duration
	// RetryMax caps the wait between retries, which doubles each time.
	RetryMax time.Duration
	// MaxAge is how long a notification may keep failing on one transport
	// before the next transport of the contact's via list takes over.
	MaxAge time.Duration
	// BatchSize is how many messages go to a transport in one send, for
	// plugins that take batches.
	BatchSize int
	// DrainTimeout bounds how long a stopping agent waits for sends in
	// flight and for the notifications of its last evaluation.
	DrainTimeout time.Duration

	set map[string]hcl.Range
}

// DefaultDelivery returns the delivery defaults: the dispatcher's
// (delivery.DefaultPolicy and delivery.DefaultDrainTimeout), which own
// them.
func DefaultDelivery() Delivery {
	p := delivery.DefaultPolicy()
	return Delivery{RetryInitial: p.Initial, RetryMax: p.Max, MaxAge: p.MaxAge, BatchSize: p.BatchSize, DrainTimeout: delivery.DefaultDrainTimeout}
}

var deliverySchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "retry_initial"}, {Name: "retry_max"}, {Name: "max_age"}, {Name: "batch_size"}, {Name: "drain_timeout"},
	},
}

func (f *fileDecoder) decodeDelivery(block *hcl.Block) hcl.Diagnostics {
	content, diags := block.Body.Content(deliverySchema)
	d := &f.l.cfg.Delivery
	if d.set == nil {
		d.set = map[string]hcl.Range{}
	}
	for _, name := range []string{"retry_initial", "retry_max", "max_age", "batch_size", "drain_timeout"} {
		attr, ok := content.Attributes[name]
		if !ok {
			continue
		}
		if prev, dup := d.set[name]; dup {
			diags = append(diags, attrError(attr, "Duplicate delivery argument",
				fmt.Sprintf("The delivery argument %q was already set at %s. Each may be set in one place only, across all files.", name, where(prev))))
			continue
		}
		d.set[name] = attr.NameRange
		if name == "batch_size" {
			v, ds := attrValue(attr, f.ctx, cty.Number)
			diags = append(diags, ds...)
			if ds.HasErrors() || v.IsNull() {
				continue
			}
			n, _ := v.AsBigFloat().Int64()
			if !v.AsBigFloat().IsInt() || n < 1 || n > 1000 {
				diags = append(diags, attrError(attr, "Invalid batch size", "batch_size is a whole number of messages from 1 to 1000."))
				continue
			}
			d.BatchSize = int(n)
			continue
		}
		dur, ds := f.duration(attr)
		diags = append(diags, ds...)
		if ds.HasErrors() {
			continue
		}
		switch name {
		case "retry_initial":
			d.RetryInitial = dur
		case "retry_max":
			d.RetryMax = dur
		case "max_age":
			d.MaxAge = dur
		case "drain_timeout":
			d.DrainTimeout = dur
		}
	}
	return diags
}

// applyDeliveryDefaults fills what no delivery block set, and checks
// that the retries fit together.
func (c *Config) applyDeliveryDefaults() hcl.Diagnostics {
	def := DefaultDelivery()
	d := &c.Delivery
	if d.RetryInitial == 0 {
		d.RetryInitial = def.RetryInitial
	}
	if d.RetryMax == 0 {
		d.RetryMax = def.RetryMax
	}
	if d.MaxAge == 0 {
		d.MaxAge = def.MaxAge
	}
	if d.BatchSize == 0 {
		d.BatchSize = def.BatchSize
	}
	if d.DrainTimeout == 0 {
		d.DrainTimeout = def.DrainTimeout
	}
	if d.RetryMax < d.RetryInitial {
		r := d.set["retry_max"]
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Retry limits do not fit",
			Detail:   fmt.Sprintf("retry_max (%s) is shorter than retry_initial (%s): the wait between retries starts at retry_initial and doubles up to retry_max.", d.RetryMax, d.RetryInitial),
			Subject:  &r,
		}}
	}
	return nil
}
