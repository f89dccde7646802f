package sdk

import (
	"math"
	"time"

	pb "github.com/tocsin-dev/tocsin/plugins/sdk/internal/transportv1"
)

// This file converts between the Go model and the protobuf messages. Both
// directions live together so a field added to one is added to the other.

func typeToProto(t Type) pb.Type {
	switch t {
	case TypeString:
		return pb.Type_TYPE_STRING
	case TypeNumber:
		return pb.Type_TYPE_NUMBER
	case TypeBool:
		return pb.Type_TYPE_BOOL
	case TypeListOfString:
		return pb.Type_TYPE_LIST_OF_STRING
	case TypeDuration:
		return pb.Type_TYPE_DURATION
	default:
		return pb.Type_TYPE_UNSPECIFIED
	}
}

func typeFromProto(t pb.Type) Type {
	switch t {
	case pb.Type_TYPE_STRING:
		return TypeString
	case pb.Type_TYPE_NUMBER:
		return TypeNumber
	case pb.Type_TYPE_BOOL:
		return TypeBool
	case pb.Type_TYPE_LIST_OF_STRING:
		return TypeListOfString
	case pb.Type_TYPE_DURATION:
		return TypeDuration
	default:
		return 0
	}
}

func descriptionToProto(d *Description) *pb.DescribeResponse {
	out := &pb.DescribeResponse{
		Name:            d.Name,
		Version:         d.Version,
		SdkVersion:      d.SDKVersion,
		ProtocolVersion: uint32(d.ProtocolVersion),
		Summary:         d.Summary,
		Batch:           d.Batch,
		MaxMessageBytes: uint64(max(d.MaxMessageBytes, 0)),
	}
	for _, a := range d.Schema {
		out.Schema = append(out.Schema, &pb.Attribute{
			Name:        a.Name,
			Type:        typeToProto(a.Type),
			Required:    a.Required,
			Sensitive:   a.Sensitive,
			Description: a.Description,
			Default:     a.Default,
			OneOf:       a.OneOf,
		})
	}
	return out
}

func descriptionFromProto(r *pb.DescribeResponse) *Description {
	d := &Description{
		Name:            r.GetName(),
		Version:         r.GetVersion(),
		SDKVersion:      r.GetSdkVersion(),
		ProtocolVersion: int(r.GetProtocolVersion()),
		Summary:         r.GetSummary(),
		Batch:           r.GetBatch(),
		MaxMessageBytes: int(min(r.GetMaxMessageBytes(), math.MaxInt32)),
	}
	for _, a := range r.GetSchema() {
		d.Schema = append(d.Schema, Attribute{
			Name:        a.GetName(),
			Type:        typeFromProto(a.GetType()),
			Required:    a.GetRequired(),
			Sensitive:   a.GetSensitive(),
			Description: a.GetDescription(),
			Default:     a.GetDefault(),
			OneOf:       a.GetOneOf(),
		})
	}
	return d
}

func diagnosticsToProto(diags Diagnostics) []*pb.Diagnostic {
	out := make([]*pb.Diagnostic, 0, len(diags))
	for _, d := range diags {
		sev := pb.Diagnostic_SEVERITY_ERROR
		if d.Severity == SeverityWarning {
			sev = pb.Diagnostic_SEVERITY_WARNING
		}
		out = append(out, &pb.Diagnostic{Severity: sev, Attribute: TruncateText(d.Attribute), Summary: TruncateText(d.Summary), Detail: TruncateText(d.Detail)})
	}
	return out
}

func diagnosticsFromProto(l []*pb.Diagnostic) Diagnostics {
	var out Diagnostics
	for _, d := range l {
		sev := SeverityError
		if d.GetSeverity() == pb.Diagnostic_SEVERITY_WARNING {
			sev = SeverityWarning
		}
		out = append(out, Diagnostic{Severity: sev, Attribute: TruncateText(d.GetAttribute()), Summary: TruncateText(d.GetSummary()), Detail: TruncateText(d.GetDetail())})
	}
	return out
}

func errorToProto(err error) *pb.Error {
	de := AsDeliveryError(err)
	if de == nil {
		return nil
	}
	kind := pb.Error_KIND_TEMPORARY
	if de.Kind == Permanent {
		kind = pb.Error_KIND_PERMANENT
	}
	msg := ""
	if de.Err != nil {
		msg = de.Err.Error()
	}
	return &pb.Error{
		Kind:         kind,
		Code:         TruncateText(de.Code),
		Reply:        TruncateText(de.Reply),
		Remedy:       TruncateText(de.Remedy),
		Message:      TruncateText(msg),
		RetryAfterMs: de.RetryAfter.Milliseconds(),
	}
}

func errorFromProto(e *pb.Error) error {
	if e == nil {
		return nil
	}
	kind := Temporary
	if e.GetKind() == pb.Error_KIND_PERMANENT {
		kind = Permanent
	}
	return &DeliveryError{
		Kind:       kind,
		Code:       TruncateText(e.GetCode()),
		Reply:      TruncateText(e.GetReply()),
		Remedy:     TruncateText(e.GetRemedy()),
		RetryAfter: time.Duration(e.GetRetryAfterMs()) * time.Millisecond,
		Err:        newErrorText(TruncateText(e.GetMessage())),
	}
}

func addressToProto(a Address) *pb.Address {
	return &pb.Address{Name: a.Name, Email: a.Address}
}

func addressesToProto(l []Address) []*pb.Address {
	if len(l) == 0 {
		return nil
	}
	out := make([]*pb.Address, len(l))
	for i, a := range l {
		out[i] = addressToProto(a)
	}
	return out
}

func addressFromProto(a *pb.Address) Address {
	return Address{Name: a.GetName(), Address: a.GetEmail()}
}

func addressesFromProto(l []*pb.Address) []Address {
	if len(l) == 0 {
		return nil
	}
	out := make([]Address, len(l))
	for i, a := range l {
		out[i] = addressFromProto(a)
	}
	return out
}

func messageToProto(m *Message) *pb.Message {
	out := &pb.Message{
		Id:      m.ID,
		From:    addressToProto(m.From),
		To:      addressesToProto(m.To),
		Cc:      addressesToProto(m.Cc),
		Bcc:     addressesToProto(m.Bcc),
		ReplyTo: addressesToProto(m.ReplyTo),
		Subject: m.Subject,
		Text:    m.Text,
		Html:    m.HTML,
		Alert:   alertToProto(m.Alert),
	}
	if !m.Date.IsZero() {
		out.DateUnixNano = m.Date.UnixNano()
	}
	for _, a := range m.Attachments {
		out.Attachments = append(out.Attachments, &pb.Attachment{Filename: a.Filename, ContentType: a.ContentType, Data: a.Data})
	}
	for _, h := range m.Headers {
		out.Headers = append(out.Headers, &pb.Header{Name: h.Name, Value: h.Value})
	}
	return out
}

func messageFromProto(p *pb.Message) *Message {
	m := &Message{
		ID:      p.GetId(),
		From:    addressFromProto(p.GetFrom()),
		To:      addressesFromProto(p.GetTo()),
		Cc:      addressesFromProto(p.GetCc()),
		Bcc:     addressesFromProto(p.GetBcc()),
		ReplyTo: addressesFromProto(p.GetReplyTo()),
		Subject: p.GetSubject(),
		Text:    p.GetText(),
		HTML:    p.GetHtml(),
		Alert:   alertFromProto(p.GetAlert()),
	}
	if p.GetDateUnixNano() != 0 {
		m.Date = time.Unix(0, p.GetDateUnixNano())
	}
	for _, a := range p.GetAttachments() {
		m.Attachments = append(m.Attachments, Attachment{Filename: a.GetFilename(), ContentType: a.GetContentType(), Data: a.GetData()})
	}
	for _, h := range p.GetHeaders() {
		m.Headers = append(m.Headers, Header{Name: h.GetName(), Value: h.GetValue()})
	}
	return m
}
