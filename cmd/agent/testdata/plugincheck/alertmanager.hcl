# The bundled alertmanager transport against the kit's HTTP server, which
# stands in for an Alertmanager instance; the bearer token is a planted
# secret the plugin must never show.
urls                = [kit.http_url]
bearer_token        = "am-0123456789abcdef"
allow_insecure_auth = true
