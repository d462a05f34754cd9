"""meshsim's RPC over ZeroMQ, as the C++ RpcClient speaks it (common/rpc/).

One DEALER socket per client; each call is an RpcRequest envelope carrying
the method's request message, answered by one RpcReply with a status code
(the gRPC codes) and the reply message. Every call has a deadline. Methods
the IDL marks idempotent (the `idempotent` method option in proto/) are
retried on UNAVAILABLE and on a timed-out attempt, with exponential
backoff, until the deadline; others are sent once. After a timed-out
attempt the socket is replaced, so a late reply is never taken for a later
call's.

With keys (meshsim_client.keys.Keys) the socket is a CURVE client; a
refused handshake, which ZeroMQ reports only to a socket monitor, becomes a
PERMISSION_DENIED "not authorized: ..." at once instead of a timeout.
"""
import enum
import itertools
import time

import zmq
from zmq.utils.monitor import recv_monitor_message

from meshsim_client._proto import meshsim_pb2, rpc_pb2


class StatusCode(enum.IntEnum):
    """The gRPC status codes (absl::StatusCode), as they cross the RPC."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


class MeshsimError(Exception):
    """An RPC that failed: `code` (a StatusCode) and the server's message."""

    def __init__(self, code, message):
        super().__init__(f"{StatusCode(code).name}: {message}")
        self.code = StatusCode(code)
        self.message = message


_RETRYABLE = (StatusCode.UNAVAILABLE, StatusCode.DEADLINE_EXCEEDED)


def _method(name):
    """The IDL's descriptor of "Service.Method"."""
    service, _, method = name.partition(".")
    services = meshsim_pb2.DESCRIPTOR.services_by_name
    if service not in services or method not in services[service].methods_by_name:
        raise MeshsimError(StatusCode.INVALID_ARGUMENT, f"method {name} is not in the IDL")
    return services[service].methods_by_name[method]


def is_idempotent(name):
    """Whether the IDL marks the method safe to retry."""
    return _method(name).GetOptions().Extensions[meshsim_pb2.idempotent]


class RpcClient:
    """Calls one server endpoint. Not thread-safe: one client per thread."""

    ATTEMPT_TIMEOUT = 1.0
    INITIAL_BACKOFF = 0.02
    MAX_BACKOFF = 0.5

    def __init__(self, endpoint, context=None, keys=None):
        self.endpoint = endpoint
        self._context = context or zmq.Context.instance()
        self._keys = keys
        self._socket = None
        self._monitor = None
        self._call_ids = itertools.count(1)

    def close(self):
        if self._monitor is not None:
            self._socket.disable_monitor()
            self._monitor.close(linger=0)
            self._monitor = None
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None

    def _connect(self):
        socket = self._context.socket(zmq.DEALER)
        socket.setsockopt(zmq.LINGER, 0)
        # Queue nothing for a server that is not there: a send waits (up to
        # the deadline) for the connection instead.
        socket.setsockopt(zmq.IMMEDIATE, 1)
        if self._keys is not None:
            self._keys.apply(socket)
        self._monitor = socket.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_AUTH
                                                  | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                                                  | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)
        try:
            socket.connect(self.endpoint)
        except zmq.ZMQError as error:
            self._socket = socket
            self.close()
            raise MeshsimError(StatusCode.INVALID_ARGUMENT, f"cannot connect to '{self.endpoint}': {error}")
        self._socket = socket

    def call(self, method, request, reply_type, timeout):
        """Calls `method` with `request`; returns a `reply_type` message or raises MeshsimError."""
        idempotent = is_idempotent(method)
        body = request.SerializeToString()
        deadline = time.monotonic() + timeout
        backoff = self.INITIAL_BACKOFF
        attempt = 0
        while True:
            attempt += 1
            left = deadline - time.monotonic()
            attempt_left = min(left, self.ATTEMPT_TIMEOUT) if idempotent else left
            try:
                return self._attempt(method, body, reply_type, attempt_left, left)
            except MeshsimError as error:
                if not idempotent or error.code not in _RETRYABLE:
                    raise
                if deadline - time.monotonic() <= backoff:
                    raise MeshsimError(error.code, f"{method} to {self.endpoint}: {error.message} "
                                                   f"(after {attempt} attempts)") from None
            time.sleep(backoff)
            backoff = min(backoff * 2, self.MAX_BACKOFF)

    def _attempt(self, method, body, reply_type, attempt_left, left):
        if self._socket is None:
            self._connect()
        call_id = next(self._call_ids)
        envelope = rpc_pb2.RpcRequest(method=method, call_id=call_id, body=body,
                                      deadline_ms=max(1, int(left * 1000)))
        until = time.monotonic() + attempt_left
        if not self._wait(zmq.POLLOUT, until):
            raise MeshsimError(StatusCode.UNAVAILABLE, f"no connection to {self.endpoint} for {method}")
        self._socket.send(envelope.SerializeToString(), zmq.DONTWAIT)
        while True:
            if not self._wait(zmq.POLLIN, until):
                self.close()  # the reply, if it ever comes, must not meet a later call
                raise MeshsimError(StatusCode.DEADLINE_EXCEEDED,
                                   f"{method} to {self.endpoint}: no reply within the deadline")
            reply = rpc_pb2.RpcReply()
            try:
                reply.ParseFromString(self._socket.recv(zmq.DONTWAIT))
            except Exception:  # noqa: BLE001 - any undecodable reply is the same error
                raise MeshsimError(StatusCode.DATA_LOSS, f"{method}: reply envelope does not parse") from None
            if reply.call_id != call_id:
                continue  # a stale reply to an earlier call
            if reply.code != 0:
                raise MeshsimError(reply.code, reply.message)
            message = reply_type()
            message.ParseFromString(reply.body)
            return message

    def _wait(self, event, until):
        """Waits for `event` on the socket until `until`; False on timeout.
        Raises PERMISSION_DENIED as soon as the monitor reports a refused
        handshake."""
        poller = zmq.Poller()
        poller.register(self._socket, event)
        poller.register(self._monitor, zmq.POLLIN)
        while True:
            remaining = until - time.monotonic()
            if remaining <= 0:
                return False
            ready = dict(poller.poll(int(remaining * 1000) + 1))
            if self._monitor in ready:
                self._raise_if_refused()
            if self._socket in ready:
                return True

    def _raise_if_refused(self):
        while self._monitor.poll(0, zmq.POLLIN):
            event = recv_monitor_message(self._monitor, zmq.DONTWAIT)
            if event["event"] == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                identity = f"key '{self._keys.identity}'" if self._keys else "this client"
                message = (f"not authorized: {self.endpoint} refused {identity} (ZAP status {event['value']}): "
                           "it is in none of the server's key lists")
            elif event["event"] == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
                message = (f"not authorized: {self.endpoint} does not speak CURVE (a server without keys?)"
                           if self._keys else
                           f"not authorized: {self.endpoint} requires CURVE keys: give keys=DIR or set "
                           "MESHSIM_KEYS (docs/security.md)")
            elif event["event"] == zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL and self._keys:
                message = (f"not authorized: the CURVE handshake with {self.endpoint} failed: is the server's "
                           "public key (coordinator.key) this cluster's?")
            else:
                continue
            self.close()
            raise MeshsimError(StatusCode.PERMISSION_DENIED, message)
