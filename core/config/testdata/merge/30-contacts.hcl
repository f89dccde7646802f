agent {
  mute = true
}

contact "ops" {
  email = ["ops@example.com"]
  via   = [transport.o365, transport.relay]
}
