"""pydrop: an example Tocsin transport plugin written in Python.

It delivers each message as an RFC 5322 file into a directory (setting
``dir``) or POSTs it to a URL (setting ``url``). ``handshake`` speaks
go-plugin's side of the protocol (cookie, version, AutoMTLS, the handshake
line), ``service`` serves the Transport service and go-plugin's own
services, ``transport`` holds the delivery logic. See README.md beside this
package and plugins/sdk/PROTOCOL.md.
"""

# VERSION is the plugin's own version, reported in Describe. The build
# script does not change it; a real plugin would set it at release time.
VERSION = "0.1.0"

# NAME is the plugin's name: the executable is tocsin-plugin-pydrop and a
# transport block says plugin = "pydrop".
NAME = "pydrop"
