agent {
  node       = "test"
  plugin_dir = env("TOCSIN_TEST_PLUGIN_DIR")
  data_dir   = "/tmp/tocsin-test"
}

transport "relay" {
  plugin = "smtp-basic"
  from   = "tocsin@example.com"
  config {
    host = "mail.example.com"
  }
}

contact "ops" {
  email = ["ops@example.com"]
  via   = [transport.relay]
}

check "web" {
  http = "https://127.0.0.1:8443/health"
}

rule "unknown_fact" {
  when    = check.web.stauts != 200
  notify  = [contact.ops]
  subject = "web"
}

rule "type_error" {
  when    = check.web.ok + 1 > 2
  notify  = [contact.ops]
  subject = "web"
}

rule "bad_cron" {
  schedule = "CRON_TZ=UTC"
  when     = true
  notify   = [contact.ops]
  subject  = "cron"
}

rule "bad_duration" {
  when    = true
  for     = "ten minutes"
  notify  = [contact.ops]
  subject = "duration"
}

rule "unknown_contact" {
  when    = true
  notify  = [contact.opz]
  subject = "contact"
}
