# Microsoft 365: SMTP AUTH with OAuth2, delegated. A user (the alerts
# mailbox) signs in once with tocsin oauth login; the agent keeps the
# refresh token, encrypted, and Microsoft rotates it as it is used.
# Plugin: smtp-oauth-ms with mode = "delegated".
#
# Prefer app-only (o365-smtp-app.hcl) when an Exchange administrator can
# run its PowerShell steps; use this when only the mailbox's owner can act.
#
# On the Microsoft side, once:
#
# 1. Entra admin center > App registrations > New registration, for
#    example "Tocsin alerts". Under Authentication, add the platform
#    "Mobile and desktop applications" with the redirect URI
#    http://localhost, and set "Allow public client flows" to Yes (the
#    device flow needs it). No client secret is needed.
# 2. API permissions > Add a permission > Microsoft Graph > Delegated
#    permissions: SMTP.Send and offline_access. Grant admin consent, or let
#    the user consent at sign-in if your tenant allows that.
# 3. SMTP AUTH must be allowed for the mailbox (5.7.139 otherwise):
#
#      Set-CASMailbox -Identity alerts@contoso.com -SmtpClientAuthenticationDisabled $false
#
# Then, on the appliance, sign in as the mailbox. On a headless appliance
# use -device and open the printed URL on any machine:
#
#   tocsin oauth login -config examples/o365-smtp-delegated.hcl -transport m365 -device
#   tocsin oauth status -config examples/o365-smtp-delegated.hcl
#   tocsin test-send -config examples/o365-smtp-delegated.hcl -transport m365 -to you@contoso.com
#
# The token is stored under data_dir/tokens, encrypted with the key in
# data_dir/token.key (generated on first use; set token_key_file or
# token_key_env in the agent block to keep it elsewhere).

agent {
  node     = "appliance-a"
  data_dir = "/var/lib/tocsin"
}

transport "m365" {
  plugin = "smtp-oauth-ms"
  from   = "Appliance A <alerts@contoso.com>"
  config {
    mode      = "delegated"
    tenant_id = "contoso.onmicrosoft.com"
    client_id = "00000000-0000-0000-0000-000000000000"
    username  = "alerts@contoso.com"
  }
}

contact "ops" {
  email = ["ops@contoso.com"]
  via   = [transport.m365]
}
