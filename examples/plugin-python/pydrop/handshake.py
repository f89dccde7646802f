"""go-plugin's side of the handshake, as the Tocsin agent expects it.

The agent starts the plugin with these environment variables:

  TOCSIN_PLUGIN_MAGIC_COOKIE  must be 5c1e0b7a-tocsin-transport, or the
                              plugin says it is run by hand and exits 1
  PLUGIN_PROTOCOL_VERSIONS    the app protocol versions the agent speaks,
                              comma-separated ("1")
  PLUGIN_CLIENT_CERT          the agent's client certificate (PEM) when it
                              uses AutoMTLS, which it always does
  PLUGIN_UNIX_SOCKET_DIR      a private directory for a unix socket
  PLUGIN_MIN_PORT/MAX_PORT    a TCP port range, when a unix socket cannot be used

and reads one line from the plugin's stdout:

  1|APP-PROTOCOL-VERSION|NETWORK-TYPE|NETWORK-ADDR|grpc|SERVER-CERT
"""

import base64
import datetime
import os
import socket
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

COOKIE_KEY = "TOCSIN_PLUGIN_MAGIC_COOKIE"
COOKIE_VALUE = "5c1e0b7a-tocsin-transport"

# CORE_PROTOCOL is go-plugin's own protocol version; always 1.
CORE_PROTOCOL = 1

# SUPPORTED are the Tocsin plugin protocol versions this plugin serves.
SUPPORTED = (1,)

RUN_BY_HAND = (
    "This program is a Tocsin transport plugin: the Tocsin agent starts it.\n"
    "Put it in the agent's plugin_dir (or name it with path in a transport block)\n"
    "and run `tocsin plugins`; `%s describe` prints its schema.\n"
)


def cookie_ok(env=os.environ):
    return env.get(COOKIE_KEY) == COOKIE_VALUE


def client_cert(env=os.environ):
    """The agent's AutoMTLS client certificate (PEM bytes), or None when
    the host does not use AutoMTLS."""
    pem = env.get("PLUGIN_CLIENT_CERT", "")
    return pem.encode("ascii") if pem else None


def negotiate(env=os.environ):
    """Picks the newest protocol version both sides speak. With none in
    common it answers its own newest, and the agent refuses it with a
    message naming both, as go-plugin's own servers do."""
    offered = set()
    for v in env.get("PLUGIN_PROTOCOL_VERSIONS", "").split(","):
        v = v.strip()
        if v.isdigit():
            offered.add(int(v))
    common = [v for v in SUPPORTED if v in offered]
    return max(common) if common else max(SUPPORTED)


def server_certificate():
    """Generates the plugin's self-signed certificate for AutoMTLS, like
    go-plugin's generateCert: CN and DNS name "localhost" (the name the
    agent verifies), usable as its own CA, for server and client auth.
    Returns (key PEM, certificate PEM, certificate DER)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tocsin plugin"),
    ])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(seconds=30))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True, key_agreement=True,
                                     key_cert_sign=True, content_commitment=False, data_encipherment=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, cert.public_bytes(serialization.Encoding.PEM), cert.public_bytes(serialization.Encoding.DER)


def cert_field(der):
    """The handshake's 6th field: the DER certificate in base64, standard
    alphabet without padding (Go's base64.RawStdEncoding): the line cannot
    hold PEM's newlines."""
    return base64.b64encode(der).decode("ascii").rstrip("=")


def listen_address(env=os.environ):
    """Where to listen: a unix socket in PLUGIN_UNIX_SOCKET_DIR when the
    agent gave one (only the agent's user can reach it), else 127.0.0.1
    on a port in PLUGIN_MIN_PORT..PLUGIN_MAX_PORT, or any port.
    Returns (network, grpc address, handshake address) candidates."""
    sock_dir = env.get("PLUGIN_UNIX_SOCKET_DIR", "")
    if sock_dir and os.path.isdir(sock_dir):
        path = os.path.join(tempfile.mkdtemp(prefix="pydrop-", dir=sock_dir), "plugin.sock")
        return [("unix", "unix:" + path, path)]
    lo, hi = env.get("PLUGIN_MIN_PORT", "0"), env.get("PLUGIN_MAX_PORT", "0")
    lo = int(lo) if lo.isdigit() else 0
    hi = int(hi) if hi.isdigit() else 0
    if lo > 0 and hi >= lo:
        return [("tcp", "127.0.0.1:%d" % p, "127.0.0.1:%d" % p) for p in range(lo, hi + 1) if _free(p)]
    return [("tcp", "127.0.0.1:0", None)]


def _free(port):
    """Whether 127.0.0.1:port can be bound now; checked first so that
    gRPC, which logs every failed bind to stderr, mostly tries free ones."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def line(version, network, address, cert=""):
    return "%d|%d|%s|%s|grpc|%s" % (CORE_PROTOCOL, version, network, address, cert)
