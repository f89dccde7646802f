transport "ok" {
  plugin = "fake-smtp"
  from   = "alerts@example.com"
  config {
    host       = "smtp.example.com"
    port       = 587
    security   = "starttls"
    timeout    = "1m30s"
    cc         = ["a@example.com", "b@example.com"]
    verify_tls = true
    password   = env("TOCSIN_TEST_PASSWORD")
    assertion  = file("assertion.txt")
    helo       = null
  }
}

transport "minimal" {
  plugin = "fake-smtp"
  from   = "alerts@example.com"
  config {
    host = "smtp.example.com"
  }
}

transport "unknown_argument" {
  plugin = "fake-smtp"
  from   = "alerts@example.com"
  config {
    hots    = "smtp.example.com"
    colour  = "blue"
  }
}

transport "wrong_type" {
  plugin = "fake-smtp"
  from   = "alerts@example.com"
  config {
    host       = "smtp.example.com"
    port       = "five-eight-seven"
    verify_tls = "maybe"
    cc         = "a@example.com"
  }
}

transport "missing_required" {
  plugin = "fake-smtp"
  from   = "alerts@example.com"
  config {
    port = 25
  }
}

transport "null_required" {
  plugin = "fake-smtp"
  from   = "alerts@example.com"
  config {
    host = null
  }
}

transport "bad_duration" {
  plugin = "fake-smtp"
  from   = "alerts@example.com"
  config {
    host    = "smtp.example.com"
    timeout = "30 seconds"
  }
}

transport "one_of" {
  plugin = "fake-smtp"
  from   = "alerts@example.com"
  config {
    host     = "smtp.example.com"
    security = "startls"
  }
}

transport "no_config" {
  plugin = "fake-smtp"
  from   = "alerts@example.com"
}

transport "nested_block" {
  plugin = "fake-smtp"
  from   = "alerts@example.com"
  config {
    host = "smtp.example.com"
    tls {
      verify = false
    }
  }
}

transport "unset_env" {
  plugin = "fake-smtp"
  from   = "alerts@example.com"
  config {
    host = env("TOCSIN_TEST_UNSET")
  }
}
