"""The plugin process: gRPC services, the handshake, and shutdown.

It serves, on one gRPC server:

  tocsin.transport.v1.Transport  the contract (plugins/sdk/proto/transport.proto)
  grpc.health.v1.Health          "plugin" is SERVING: go-plugin's host pings it
  plugin.GRPCController          Shutdown: the host's polite stop
  plugin.GRPCStdio               an empty stdio stream, so the host does not
                                 warn that stdio syncing is unavailable

The gRPC code is generated from the .proto files at build time (see the
build script); nothing here encodes protobuf by hand.
"""

import json
import signal
import sys
import threading
from concurrent import futures

import grpc

import grpc_controller_pb2
import grpc_controller_pb2_grpc
import grpc_stdio_pb2_grpc
import health_pb2
import health_pb2_grpc
import transport_pb2
import transport_pb2_grpc
from google.protobuf import json_format

from . import handshake, log
from .transport import Transport

# The sizes the Go SDK's plugins use: what the agent may send in one
# request (reported in Describe) and the largest answer it accepts.
MAX_REQUEST_BYTES = 64 << 20
MAX_RESPONSE_BYTES = 8 << 20


class TransportServicer(transport_pb2_grpc.TransportServicer):
    """Forwards each RPC to the Transport. Errors travel in the responses,
    not as gRPC statuses, so their kind, code and remedy survive."""

    def __init__(self, impl):
        self.impl = impl

    def Describe(self, request, context):
        return self.impl.describe()

    def Configure(self, request, context):
        return self.impl.configure(request)

    def Check(self, request, context):
        err = self.impl.check(context)
        resp = transport_pb2.CheckResponse()
        if err is not None:
            resp.error.CopyFrom(err)
        return resp

    def Send(self, request, context):
        return self.impl.send(request, context)

    def LoginConfig(self, request, context):
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "pydrop has no interactive login")


class HealthServicer(health_pb2_grpc.HealthServicer):
    def Check(self, request, context):
        if request.service in ("", "plugin"):
            return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)
        context.abort(grpc.StatusCode.NOT_FOUND, "unknown service %r" % request.service)


class ControllerServicer(grpc_controller_pb2_grpc.GRPCControllerServicer):
    def __init__(self, stop):
        self.stop = stop

    def Shutdown(self, request, context):
        log.debug("shutdown requested by the agent")
        self.stop.set()
        return grpc_controller_pb2.Empty()


class StdioServicer(grpc_stdio_pb2_grpc.GRPCStdioServicer):
    """Holds the stream open and sends nothing: this plugin writes its logs
    to stderr, which the host reads directly, and nothing to stdout after
    the handshake."""

    def __init__(self, stop):
        self.stop = stop

    def StreamStdio(self, request, context):
        done = threading.Event()
        context.add_callback(done.set)
        while not done.is_set() and not self.stop.is_set():
            done.wait(0.5)
        return
        yield  # a generator: a server stream with no messages


def describe_json():
    """What `tocsin-plugin-pydrop describe` prints, as the Go SDK does."""
    d = json_format.MessageToDict(Transport().describe(), preserving_proto_field_name=True,
                                  use_integers_for_enums=True)
    # proto3's JSON writes 64-bit integers as strings; the Go SDK as numbers.
    if "max_message_bytes" in d:
        d["max_message_bytes"] = int(d["max_message_bytes"])
    return json.dumps(d, indent=2)


def main(argv):
    if len(argv) == 2 and argv[1] == "describe":
        print(describe_json())
        return 0
    if not handshake.cookie_ok():
        sys.stderr.write(handshake.RUN_BY_HAND % "tocsin-plugin-pydrop")
        return 1
    # The agent stops the plugin; a Ctrl-C meant for it reaches the
    # whole process group and must not kill the plugin first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    version = handshake.negotiate()
    stop = threading.Event()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=16),
        options=[
            ("grpc.max_receive_message_length", MAX_REQUEST_BYTES),
            ("grpc.max_send_message_length", MAX_RESPONSE_BYTES),
            # gRPC sets SO_REUSEPORT by default: two plugins could then
            # both listen on one port of the range, and the agent reach
            # the wrong one.
            ("grpc.so_reuseport", 0),
        ],
    )
    transport_pb2_grpc.add_TransportServicer_to_server(TransportServicer(Transport()), server)
    health_pb2_grpc.add_HealthServicer_to_server(HealthServicer(), server)
    grpc_controller_pb2_grpc.add_GRPCControllerServicer_to_server(ControllerServicer(stop), server)
    grpc_stdio_pb2_grpc.add_GRPCStdioServicer_to_server(StdioServicer(stop), server)

    client_cert = handshake.client_cert()
    cert = ""
    if client_cert:
        key_pem, cert_pem, cert_der = handshake.server_certificate()
        # Only a client presenting the agent's certificate gets in.
        creds = grpc.ssl_server_credentials([(key_pem, cert_pem)], root_certificates=client_cert,
                                            require_client_auth=True)
        cert = handshake.cert_field(cert_der)
    else:
        creds = None
        log.warn("PLUGIN_CLIENT_CERT is not set: serving without TLS, as the host asked")

    network, address = None, None
    for net, addr, shown in handshake.listen_address():
        try:
            port = server.add_secure_port(addr, creds) if creds else server.add_insecure_port(addr)
        except RuntimeError:
            port = 0
        if port:
            network = net
            address = shown if shown else "127.0.0.1:%d" % port
            break
    if network is None:
        log.error("cannot listen: no free address")
        return 1
    server.start()
    log.debug("plugin serving", network=network, address=address, protocol=version)
    sys.stdout.write(handshake.line(version, network, address, cert) + "\n")
    sys.stdout.flush()
    # Nothing else may go to stdout: the host reads it as the plugin's.
    sys.stdout = sys.stderr

    stop.wait()
    server.stop(grace=2).wait()
    return 0

