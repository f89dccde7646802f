# The kit POSTs to its own HTTP server; the token is a planted-looking
# secret the plugin must never show.
url   = kit.http_url
token = "tk-0123456789abcdef"
