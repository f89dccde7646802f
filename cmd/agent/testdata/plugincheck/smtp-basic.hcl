# Points smtp-basic at the kit's SMTP server (plain, with a login).
host                = kit.smtp_host
port                = kit.smtp_port
security            = "none"
allow_insecure_auth = true
auth                = "plain"
username            = kit.smtp_username
password            = kit.smtp_password
