# Microsoft 365: SMTP AUTH with OAuth2, app-only (client credentials).
# No user signs in; the app registration sends as one mailbox. Plugin:
# smtp-oauth-ms, to smtp.office365.com:587 with STARTTLS.
#
# On the Microsoft side, once:
#
# 1. Entra admin center > App registrations > New registration, for
#    example "Tocsin alerts", single tenant. Note the Application (client)
#    ID and the Directory (tenant) ID: they are client_id and tenant_id.
# 2. Certificates & secrets > New client secret. Copy its Value, not its
#    Secret ID (the ID gets AADSTS7000215). Secrets expire: put the date in
#    your calendar, or upload a certificate instead and set
#    client_certificate and client_key (PEM files) here.
# 3. API permissions > Add a permission > APIs my organization uses >
#    Office 365 Exchange Online > Application permissions > SMTP.SendAsApp.
#    Then Grant admin consent.
# 4. In Exchange Online PowerShell (Connect-ExchangeOnline), register the
#    app with Exchange and give it the mailbox. The object ID is the one on
#    the app's page under Enterprise applications, not under App
#    registrations:
#
#      New-ServicePrincipal -AppId <client id> -ObjectId <enterprise app object id>
#      Add-MailboxPermission -Identity alerts@contoso.com -User <enterprise app object id> -AccessRights FullAccess
#
#    Missing either answers "535 5.7.3 Authentication unsuccessful".
# 5. SMTP AUTH must be allowed for the mailbox (5.7.139 otherwise):
#
#      Set-CASMailbox -Identity alerts@contoso.com -SmtpClientAuthenticationDisabled $false
#
# Then, on the appliance:
#
#   export TOCSIN_M365_CLIENT_SECRET='the secret value'
#   tocsin test-send -config examples/o365-smtp-app.hcl -transport m365 -to you@contoso.com
#
# test-send prints Microsoft's reply and what to do about it when it fails.

agent {
  node     = "appliance-a"
  data_dir = "/var/lib/tocsin"
}

transport "m365" {
  plugin = "smtp-oauth-ms"
  # From must be the mailbox (or one it may send as): 5.7.60 SendAsDenied
  # otherwise.
  from = "Appliance A <alerts@contoso.com>"
  # Exchange Online takes 30 messages a minute from a mailbox: spread a
  # burst of notifications rather than be throttled.
  rate_limit = "30/1m"
  # The Expires date of the client secret, from Certificates & secrets
  # (24 months at most): credential_expiring warns 30, 7 and 1 day ahead.
  # With client_certificate instead, the certificate's own date is read.
  client_secret_expires = "2028-06-30"
  config {
    mode          = "app"
    tenant_id     = "contoso.onmicrosoft.com"
    client_id     = "00000000-0000-0000-0000-000000000000"
    client_secret = env("TOCSIN_M365_CLIENT_SECRET")
    # host, port and authority change for national clouds, for example
    # authority = "https://login.microsoftonline.us" for US Government.
  }
}

contact "ops" {
  email = ["ops@contoso.com"]
  via   = [transport.m365]
}
