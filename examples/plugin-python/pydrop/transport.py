"""The pydrop transport: settings, diagnostics, delivery and error kinds.

Settings (the transport block's config):

  dir      absolute path of a directory; each message becomes a file
           <unix-nanoseconds>-<message-id>.eml in it, written atomically
  url      http:// or https:// URL; each message is POSTed to it as
           Content-Type: message/rfc822
  token    (sensitive) sent as "Authorization: Bearer TOKEN" with url
  timeout  duration ("10s") bounding each POST and Check; default "10s"

Exactly one of dir and url is set. Errors carry a kind: temporary (the
agent retries: a full disk, a refused connection, HTTP 429 and 5xx with
Retry-After honoured) or permanent (the agent gives up on the message:
permission denied, HTTP 4xx, an invalid message), and a remedy for the
operator. No setting's value that may hold a secret (token, the URL's
path and query, where webhook services put theirs) is ever logged or put
into an error.
"""

import email.policy
import email.utils
import errno
import http.client
import json
import os
import re
import socket
import ssl
import tempfile
import threading
import time
import urllib.parse
from datetime import datetime, timezone
from email.message import EmailMessage

import transport_pb2 as pb

from . import NAME, VERSION
from . import log

TEMPORARY = pb.Error.KIND_TEMPORARY
PERMANENT = pb.Error.KIND_PERMANENT

DEFAULT_TIMEOUT = 10.0
FILE_MODE = 0o640
MAX_TEXT = 4096  # the agent cuts longer texts anyway

SCHEMA = [
    pb.Attribute(name="dir", type=pb.TYPE_STRING,
                 description="Absolute path of the directory each message is written to as an .eml file. Set dir or url, not both."),
    pb.Attribute(name="url", type=pb.TYPE_STRING,
                 description="http:// or https:// URL each message is POSTed to as message/rfc822. Set dir or url, not both."),
    pb.Attribute(name="token", type=pb.TYPE_STRING, sensitive=True,
                 description="Bearer token sent in the Authorization header of each POST to url."),
    pb.Attribute(name="timeout", type=pb.TYPE_DURATION, default="10s",
                 description="How long one POST (or Check) to url may take."),
]

_RESERVED = {"from", "to", "cc", "bcc", "reply-to", "subject", "date", "message-id",
             "mime-version", "content-type", "content-transfer-encoding", "sender"}

_DURATION_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(s):
    """Parses a Go duration ("1m30s", "250ms") into seconds; None if invalid."""
    if not isinstance(s, str) or s == "":
        return None
    if s == "0":
        return 0.0
    pos, total = 0, 0.0
    while pos < len(s):
        m = _DURATION_RE.match(s, pos)
        if not m:
            return None
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return total


def perr(kind, message, remedy="", code="", reply="", retry_after_ms=0):
    """Builds the Error a Result, CheckResponse or SendResponse carries."""
    return pb.Error(kind=kind, message=message[:MAX_TEXT], remedy=remedy[:MAX_TEXT], code=code[:MAX_TEXT],
                    reply=reply[:MAX_TEXT], retry_after_ms=retry_after_ms)


NOT_CONFIGURED = perr(PERMANENT, "transport is not configured",
                      "Fix the errors `tocsin validate` reports for this transport.")


class Diagnostics(list):
    """Collects ConfigureResponse diagnostics, each naming its setting."""

    def error(self, attribute, summary, detail):
        self.append(pb.Diagnostic(severity=pb.Diagnostic.SEVERITY_ERROR, attribute=attribute,
                                  summary=summary, detail=detail))

    def warning(self, attribute, summary, detail):
        self.append(pb.Diagnostic(severity=pb.Diagnostic.SEVERITY_WARNING, attribute=attribute,
                                  summary=summary, detail=detail))

    def has_errors(self):
        return any(d.severity == pb.Diagnostic.SEVERITY_ERROR for d in self)


def _safe_url(u):
    """The part of a URL that may be logged: scheme, host and port."""
    return "%s://%s" % (u.scheme, u.netloc.rpartition("@")[2])


class _Target:
    """An applied configuration; never modified, so calls may share it."""

    def __init__(self, directory=None, url=None, token="", timeout=DEFAULT_TIMEOUT):
        self.directory = directory
        self.url = url
        self.token = token
        self.timeout = timeout


class Transport:
    """The transport. Safe for concurrent use: Send runs on many threads."""

    def __init__(self):
        self._lock = threading.Lock()
        self._target = None

    def _current(self):
        with self._lock:
            return self._target

    def describe(self):
        return pb.DescribeResponse(
            name=NAME, version=VERSION, protocol_version=1,
            sdk_version="python3-grpcio",
            summary="Example plugin in Python: writes each message as an .eml file into a directory, or POSTs it to a URL.",
            schema=SCHEMA, batch=False, max_message_bytes=64 << 20)

    # Configure

    def configure(self, req):
        diags = Diagnostics()
        try:
            settings = json.loads(req.settings_json or b"{}")
        except ValueError as e:
            diags.error("", "The settings are not a JSON object", "The agent sent settings the plugin cannot read (%s); report this as a bug." % e.__class__.__name__)
            settings = None
        if settings is not None and not isinstance(settings, dict):
            diags.error("", "The settings are not a JSON object", "The agent sent settings the plugin cannot read; report this as a bug.")
            settings = None
        target = None
        if settings is not None:
            target = self._validate(settings, diags)
        if diags.has_errors():
            target = None
        with self._lock:
            self._target = target
        if target is not None:
            where = target.directory if target.directory else _safe_url(target.url)
            log.debug("pydrop configured", transport=req.transport, target=where)
        return pb.ConfigureResponse(diagnostics=diags)

    def _validate(self, s, diags):
        known = {a.name for a in SCHEMA}
        for name in sorted(set(s) - known):
            diags.error(name, "Unknown setting %s" % name, "pydrop takes dir, url, token and timeout.")
        d, u, token = s.get("dir"), s.get("url"), s.get("token", "")
        for name, v in (("dir", d), ("url", u), ("token", token)):
            if v is not None and not isinstance(v, str):
                diags.error(name, "%s must be a string" % name, "Write %s as a quoted string." % name)
                return None
        if d and u:
            diags.error("url", "Both dir and url are set", "Set dir to write files, or url to POST them, not both.")
            return None
        if not d and not u:
            diags.error("dir", "Neither dir nor url is set", "Set dir to the absolute path of a directory, or url to the URL each message is POSTed to.")
            return None
        timeout = DEFAULT_TIMEOUT
        if "timeout" in s:
            timeout = parse_duration(s["timeout"])
            if timeout is None or timeout <= 0:
                diags.error("timeout", "timeout %r is not a positive duration" % (s["timeout"],), "Write a duration such as \"10s\" or \"1m\".")
                return None
        if d:
            if token:
                diags.warning("token", "token is only used with url", "Remove token, or set url instead of dir.")
            return self._validate_dir(d, diags)
        return self._validate_url(u, token, timeout, diags)

    def _validate_dir(self, d, diags):
        if not os.path.isabs(d):
            diags.error("dir", "dir %r is not an absolute path" % d, "The plugin runs in the agent's working directory, so a relative path is ambiguous: give the absolute path.")
            return None
        d = os.path.normpath(d)
        if not os.path.isdir(d):
            diags.error("dir", "Directory %s does not exist" % d, "Create it (mkdir -p %s, owned by the user the agent runs as)." % d)
            return None
        try:
            _probe(d)
        except OSError as e:
            diags.error("dir", "Directory %s is not writable: %s" % (d, e.strerror), "Let the user the agent runs as write to %s." % d)
            return None
        return _Target(directory=d)

    def _validate_url(self, u, token, timeout, diags):
        parsed = urllib.parse.urlsplit(u)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            diags.error("url", "url is not an http:// or https:// URL with a host", "Write the full URL, such as \"https://hooks.example.com/tocsin\".")
            return None
        if "@" in parsed.netloc:
            diags.error("url", "url holds a user name or password", "Put a secret into token, not into the URL.")
            return None
        if parsed.scheme == "http" and token and parsed.hostname not in ("127.0.0.1", "::1", "localhost"):
            diags.warning("token", "token travels unencrypted over http://", "Use an https:// URL so the token cannot be read on the way.")
        return _Target(url=parsed, token=token, timeout=timeout)

    # Check

    def check(self, context):
        t = self._current()
        if t is None:
            return NOT_CONFIGURED
        if not context.is_active():
            return perr(TEMPORARY, "check cancelled", "The agent stopped the check; it tries again.")
        if t.directory:
            try:
                _probe(t.directory)
            except OSError as e:
                return _os_error(e, t.directory, "check directory")
            return None
        return self._connect(t, _deadline(context, t.timeout))

    def _connect(self, t, timeout):
        """Proves the URL's server answers: TCP, and TLS with its certificate verified."""
        host = t.url.hostname
        port = t.url.port or (443 if t.url.scheme == "https" else 80)
        try:
            with socket.create_connection((host, port), timeout=timeout) as sock:
                if t.url.scheme == "https":
                    with ssl.create_default_context().wrap_socket(sock, server_hostname=host):
                        pass
        except ssl.SSLCertVerificationError as e:
            return perr(PERMANENT, "connect %s: certificate not trusted: %s" % (_safe_url(t.url), e.verify_message),
                        "The server's certificate is not trusted by this host's CA store: install the CA, or fix the server's certificate.")
        except OSError as e:
            return perr(TEMPORARY, "connect %s: %s" % (_safe_url(t.url), e.strerror or e.__class__.__name__),
                        "Check that the server is up and reachable from this host.")
        return None

    # Send

    def send(self, req, context):
        t = self._current()
        if t is None:
            return pb.SendResponse(error=NOT_CONFIGURED)
        results = []
        for m in req.messages:
            r = pb.Result(message_id=m.id)
            if not context.is_active():
                r.error.CopyFrom(perr(TEMPORARY, "write message %s: cancelled" % m.id, "The agent stopped the delivery (shutdown or timeout); it tries again."))
                results.append(r)
                continue
            problem = validate(m)
            if problem:
                r.error.CopyFrom(perr(PERMANENT, "invalid message: " + problem, "The agent produced a message that cannot be sent; report this as a bug."))
                results.append(r)
                continue
            raw = build(m)
            if t.directory:
                receipt, err = _write(t.directory, m, raw)
            else:
                receipt, err = _post(t, m, raw, _deadline(context, t.timeout), context)
            if err is not None:
                r.error.CopyFrom(err)
            else:
                r.receipt = receipt
            results.append(r)
        return pb.SendResponse(results=results)


def _deadline(context, timeout):
    """The smaller of timeout and what is left of the call's deadline."""
    left = context.time_remaining()
    if left is None:
        return timeout
    return max(0.001, min(timeout, left))


def validate(m):
    """Returns why a message cannot be sent, or "" (sdk.Message.Validate's rules)."""
    if not m.id:
        return "message has no ID"
    if any(c in m.id for c in "<>\r\n \t"):
        return "message ID must not contain angle brackets or white space"
    if not m.HasField("from") or not getattr(m, "from").email:
        return "message has no From address"
    if len(m.to) + len(m.cc) + len(m.bcc) == 0:
        return "message has no recipient"
    for h in m.headers:
        if not h.name or any(ord(c) < 33 or ord(c) > 126 or c == ":" for c in h.name):
            return "header name %r is not a valid field name" % h.name
        if h.name.lower() in _RESERVED:
            return "header %r is set from the message's fields, not from headers" % h.name
    return ""


def _addr(a):
    return email.utils.formataddr((a.name, a.email)) if a.name else a.email


def _one_line(s):
    return s.replace("\r", " ").replace("\n", " ")


def build(m):
    """Builds the RFC 5322 bytes of a message with Python's email package."""
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["Message-ID"] = "<%s>" % m.id
    when = datetime.fromtimestamp(m.date_unix_nano / 1e9, timezone.utc) if m.date_unix_nano else datetime.now(timezone.utc)
    msg["Date"] = email.utils.format_datetime(when)
    msg["From"] = _addr(getattr(m, "from"))
    if m.to:
        msg["To"] = ", ".join(_addr(a) for a in m.to)
    if m.cc:
        msg["Cc"] = ", ".join(_addr(a) for a in m.cc)
    if m.reply_to:
        msg["Reply-To"] = ", ".join(_addr(a) for a in m.reply_to)
    msg["Subject"] = _one_line(m.subject)
    for h in m.headers:
        msg[h.name] = _one_line(h.value)
    msg.set_content(m.text or "")
    if m.html:
        msg.add_alternative(m.html, subtype="html")
    for a in m.attachments:
        maintype, _, subtype = (a.content_type or "application/octet-stream").partition("/")
        msg.add_attachment(bytes(a.data), maintype=maintype, subtype=subtype or "octet-stream",
                           filename=a.filename or "attachment")
    return msg.as_bytes()


def _probe(d):
    fd, path = tempfile.mkstemp(prefix=".tocsin-check-", suffix=".tmp", dir=d)
    os.close(fd)
    os.remove(path)


_UNSAFE = re.compile(r"[^A-Za-z0-9._+=@-]")


def _write(d, m, raw):
    """Writes raw as <unix-nanos>-<id>.eml, atomically: temp file, fsync, rename."""
    name = "%d-%s.eml" % (time.time_ns(), _UNSAFE.sub("_", m.id))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tocsin-", suffix=".tmp", dir=d)
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, FILE_MODE)
        os.rename(tmp, os.path.join(d, name))
        tmp = None
    except OSError as e:
        return "", _os_error(e, d, "write message %s" % m.id)
    finally:
        if tmp is not None:
            try:
                os.remove(tmp)
            except OSError:
                pass
    return "written %s" % os.path.join(d, name), None


def _os_error(e, d, what):
    """Classifies a file system error: nothing changes by itself after
    permission denied or a read-only file system (permanent); a full disk,
    an exhausted quota or a missing directory can (temporary)."""
    text = "%s: %s" % (what, e.strerror or e)
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return perr(PERMANENT, text, "Let the user the agent runs as write to %s (and mount it read-write)." % d)
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return perr(TEMPORARY, text, "Free space on the file system of %s; the agent retries." % d)
    if e.errno == errno.ENOENT:
        return perr(TEMPORARY, text, "Create %s again (or mount its file system); the agent retries." % d)
    return perr(TEMPORARY, text, "The agent retries.")


def _retry_after(value):
    """Retry-After in milliseconds, from seconds or an HTTP date; 0 if absent."""
    if not value:
        return 0
    value = value.strip()
    if value.isdigit():
        return int(value) * 1000
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0
    return max(0, int((when - datetime.now(timezone.utc)).total_seconds() * 1000))


def _post(t, m, raw, timeout, context):
    """POSTs one message to t's URL with http.client: no proxy, no
    redirect followed (a POST must not turn into a GET, nor the token
    travel to another host). When the agent gives up on the call
    (cancelled, or its deadline passed), the callback shuts the socket
    down, which ends a blocked send or read at once."""
    where = _safe_url(t.url)
    headers = {
        "Content-Type": "message/rfc822",
        "User-Agent": "tocsin-plugin-%s/%s" % (NAME, VERSION),
        "X-Tocsin-Message-Id": m.id,
    }
    if t.token:
        headers["Authorization"] = "Bearer " + t.token
    path = urllib.parse.urlunsplit(("", "", t.url.path or "/", t.url.query, ""))
    if t.url.scheme == "https":
        conn = http.client.HTTPSConnection(t.url.hostname, t.url.port, timeout=timeout, context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(t.url.hostname, t.url.port, timeout=timeout)

    def cancel():
        sock = conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    context.add_callback(cancel)
    try:
        if not context.is_active():
            return "", perr(TEMPORARY, "post message %s to %s: cancelled" % (m.id, where), "The agent stopped the delivery (shutdown or timeout); it tries again.")
        conn.request("POST", path, body=raw, headers=headers)
        resp = conn.getresponse()
        body = resp.read(MAX_TEXT)
        if 200 <= resp.status < 300:
            return "HTTP %d from %s" % (resp.status, where), None
        return "", _http_error(resp.status, resp.headers, body.decode("utf-8", "replace"), where, m.id)
    except ssl.SSLCertVerificationError as e:
        return "", perr(PERMANENT, "post message %s to %s: certificate not trusted: %s" % (m.id, where, e.verify_message),
                        "The server's certificate is not trusted by this host's CA store: install the CA, or fix the server's certificate.")
    except (OSError, http.client.HTTPException) as e:
        # Refused, a timeout, a reset, or the socket shut down because
        # the agent gave up.
        reason = e.strerror if isinstance(e, OSError) and e.strerror else e.__class__.__name__
        return "", perr(TEMPORARY, "post message %s to %s: %s" % (m.id, where, reason), "Check that the server is up and reachable; the agent retries.")
    finally:
        conn.close()


def _http_error(code, headers, body, where, mid):
    text = "post message %s to %s: HTTP %d" % (mid, where, code)
    if code == 429 or code == 408 or code >= 500:
        return perr(TEMPORARY, text, "The server is busy or failing; the agent retries.", code=str(code), reply=body,
                    retry_after_ms=_retry_after(headers.get("Retry-After") if headers else None))
    if 300 <= code < 400:
        return perr(PERMANENT, text, "The URL redirects; set url to the address it redirects to.", code=str(code), reply=body)
    if code in (401, 403):
        return perr(PERMANENT, text, "The server refused the token: set token to a valid one.", code=str(code), reply=body)
    return perr(PERMANENT, text, "The server refused the message; check url and the server's log.", code=str(code), reply=body)
