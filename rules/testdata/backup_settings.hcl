# A backup that takes its transports and contacts from the primary, for
# the test of settings_unsynced. Its own contact is what it has until a
# sync brings the primary's (which replace it).
agent {
  node   = "appliance-b"
  listen = "127.0.0.1:9870"
}

# rules test starts no plugin: any plugin name will do.
transport "test" {
  plugin = "none"
  from   = "tocsin@example.com"
}

contact "ops" {
  email = ["ops@example.com"]
  via   = [transport.test]
}

library "failover" {
  role                       = "backup"
  peer_url                   = "https://192.0.2.1:9870"
  peer_fingerprint           = "sha256:abababababababababababababababababababababababababababababababab"
  notify                     = [contact.ops]
  take_settings_from_primary = true
  settings_unsynced_after    = "12h"
}
