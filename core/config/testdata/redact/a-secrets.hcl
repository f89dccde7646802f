transport "relay" {
  plugin = "fake-smtp"
  from   = "alerts@example.com"
  config {
    host      = 25
    password  = "PLANTED-password"
    api_token = "PLANTED-token" # a comment
    assertion = "PLANTED-assertion"
    key_pem   = <<-EOT
      PLANTED-heredoc-line
    EOT
    extra     = { client_secret = "PLANTED-object-value", "private_key" = "PLANTED-quoted-key" }
  }
}
