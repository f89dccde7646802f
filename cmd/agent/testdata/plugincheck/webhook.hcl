# The bundled webhook transport against the kit's HTTP server, as a
# generic JSON receiver with a signing secret the plugin must never show.
url    = kit.http_url
format = "json"
hmac_secret = "whsec-0123456789abcdef"
