contact "ops" {
  email  = ["ops@example.com"]
  emails = ["oncall@example.com"]
  via    = [transport.relay]
}
