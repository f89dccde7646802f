# Microsoft 365 through Microsoft Graph (POST /users/{from}/sendMail),
# app-only. No SMTP at all: use it where SMTP AUTH is switched off for the
# tenant. Plugin: graph.
#
# On the Microsoft side, once:
#
# 1. Entra admin center > App registrations > New registration, for
#    example "Tocsin alerts", single tenant. Note the Application (client)
#    ID and the Directory (tenant) ID.
# 2. Certificates & secrets > New client secret; copy its Value (not its
#    Secret ID). Or upload a certificate and set client_certificate and
#    client_key.
# 3. API permissions > Add a permission > Microsoft Graph > Application
#    permissions > Mail.Send, then Grant admin consent. A delegated
#    Mail.Send does not work here (ErrorAccessDenied).
# 4. Recommended: Mail.Send lets the app send as any mailbox in the tenant.
#    Restrict it to the alerts mailbox with an application access policy
#    (or RBAC for Applications) in Exchange Online PowerShell:
#
#      New-ApplicationAccessPolicy -AppId <client id> -PolicyScopeGroupId alerts@contoso.com -AccessRight RestrictAccess -Description "Tocsin"
#
# The from address must be an Exchange Online mailbox with a licence
# (MailboxNotEnabledForRESTAPI otherwise). Mail is not kept in its Sent
# Items unless save_to_sent_items = true. Attachments over 3 MB are refused
# with a permanent error (Graph needs upload sessions above that, which this
# transport does not do yet); use smtp-oauth-ms for large attachments.
#
#   export TOCSIN_GRAPH_CLIENT_SECRET='the secret value'
#   tocsin test-send -config examples/o365-graph.hcl -transport graph -to you@contoso.com

agent {
  node     = "appliance-a"
  data_dir = "/var/lib/tocsin"
}

transport "graph" {
  plugin = "graph"
  from   = "Appliance A <alerts@contoso.com>"
  # Exchange Online takes 30 messages a minute from a mailbox: spread a
  # burst of notifications rather than be throttled.
  rate_limit = "30/1m"
  # The Expires date of the client secret, from Certificates & secrets
  # (24 months at most): credential_expiring warns 30, 7 and 1 day ahead.
  # With client_certificate instead, the certificate's own date is read.
  client_secret_expires = "2028-06-30"
  config {
    tenant_id     = "contoso.onmicrosoft.com"
    client_id     = "00000000-0000-0000-0000-000000000000"
    client_secret = env("TOCSIN_GRAPH_CLIENT_SECRET")
    # National clouds: authority = "https://login.microsoftonline.us" and
    # graph_endpoint = "https://graph.microsoft.us", for example.
  }
}

contact "ops" {
  email = ["ops@contoso.com"]
  via   = [transport.graph]
}
