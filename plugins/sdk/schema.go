package sdk

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Type is the type of a settings attribute.
type Type int

// The attribute types. A duration is a string that time.ParseDuration
// accepts; the agent checks it before the plugin sees it.
const (
	TypeString Type = iota + 1
	TypeNumber
	TypeBool
	TypeListOfString
	TypeDuration
)

// String returns the name of the type as an operator writes it in HCL.
func (t Type) String() string {
	switch t {
	case TypeString:
		return "string"
	case TypeNumber:
		return "number"
	case TypeBool:
		return "bool"
	case TypeListOfString:
		return "list(string)"
	case TypeDuration:
		return "duration"
	default:
		return fmt.Sprintf("Type(%d)", int(t))
	}
}

// Attribute describes one setting of a plugin's config block.
type Attribute struct {
	Name        string `json:"name"`
	Type        Type   `json:"type"`
	Required    bool   `json:"required,omitempty"`
	Sensitive   bool   `json:"sensitive,omitempty"`
	Description string `json:"description,omitempty"`
	// Default is the default value as an operator would write it, for
	// documentation; the plugin applies its defaults itself.
	Default string `json:"default,omitempty"`
	// OneOf lists the allowed values of a string attribute; empty allows any.
	OneOf []string `json:"one_of,omitempty"`
}

// Schema is the list of settings a plugin takes.
type Schema []Attribute

// Lookup returns the attribute named name.
func (s Schema) Lookup(name string) (Attribute, bool) {
	for _, a := range s {
		if a.Name == name {
			return a, true
		}
	}
	return Attribute{}, false
}

// Validate reports a schema that the agent could not use: an empty,
// duplicate or unwritable name (see ValidAttributeName), an unknown type,
// OneOf on a non-string attribute.
func (s Schema) Validate() error {
	seen := make(map[string]bool, len(s))
	for i, a := range s {
		switch {
		case a.Name == "":
			return fmt.Errorf("schema attribute %d has no name", i)
		case !ValidAttributeName(a.Name):
			return fmt.Errorf("schema attribute %q cannot be written in HCL: use letters, digits, _ and -", a.Name)
		case seen[a.Name]:
			return fmt.Errorf("schema attribute %q is declared twice", a.Name)
		case a.Type < TypeString || a.Type > TypeDuration:
			return fmt.Errorf("schema attribute %q has unknown type %d", a.Name, int(a.Type))
		case len(a.OneOf) > 0 && a.Type != TypeString:
			return fmt.Errorf("schema attribute %q: one_of needs type string, not %s", a.Name, a.Type)
		}
		seen[a.Name] = true
	}
	return nil
}

// Settings holds the values of a transport's config block as the agent
// decoded them against the plugin's schema: a JSON object in which numbers
// are numbers, bools are bools, lists are arrays and durations are strings.
type Settings struct {
	raw json.RawMessage
}

// NewSettings wraps a JSON object of settings.
func NewSettings(raw []byte) Settings {
	return Settings{raw: append(json.RawMessage(nil), raw...)}
}

// SettingsFromMap builds Settings from a map, for tests and for the agent.
func SettingsFromMap(m map[string]any) (Settings, error) {
	raw, err := json.Marshal(m)
	if err != nil {
		return Settings{}, fmt.Errorf("encode settings: %w", err)
	}
	return Settings{raw: raw}, nil
}

// JSON returns the settings as a JSON object.
func (s Settings) JSON() []byte {
	if len(s.raw) == 0 {
		return []byte("{}")
	}
	return append([]byte(nil), s.raw...)
}

// Decode unmarshals the settings into v, usually a struct with json tags
// whose fields were set to their defaults beforehand. A setting v has no
// field for is an error: it means the schema and the struct disagree.
// Fields of type Duration accept the strings the agent sends.
func (s Settings) Decode(v any) error {
	dec := json.NewDecoder(bytes.NewReader(s.JSON()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode settings: %w", err)
	}
	return nil
}

// Duration is a time.Duration that decodes from a string such as "30s";
// use it for TypeDuration settings.
type Duration time.Duration

// UnmarshalJSON accepts a string time.ParseDuration understands.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"30s\": %w", err)
	}
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("parse duration: %w", err)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}
