"""A TCP proxy in front of a Redis server that records every round trip: the commands a client
sends before it reads the reply (a pipeline of several commands is one round trip). It can also
hold back the replies to requests holding some bytes (``stall``): Redis has done the work, the
client times out waiting for the answer, as when Redis stalls between a read and a write."""

from __future__ import annotations

import socket
import threading
import time

from evaluation.service_process import free_port

HANDSHAKE = {"CLIENT", "HELLO", "AUTH", "SELECT"}  # what a new pooled connection sends first


def command_names(request: bytes) -> list[str]:
    """Names of the RESP commands in one request (``*N $len arg ...`` arrays, back to back)."""
    names, i = [], 0
    while i < len(request) and request[i:i + 1] == b"*":
        end = request.index(b"\r\n", i)
        count, i, args = int(request[i + 1:end]), end + 2, []
        for _ in range(count):  # each argument: $<size>\r\n<bytes>\r\n
            end = request.index(b"\r\n", i)
            size = int(request[i + 1:end])
            args.append(request[end + 2:end + 2 + size])
            i = end + 2 + size + 2
        names.append(args[0].decode().upper())
    return names


class RoundTripProxy:
    def __init__(self, redis_port: int) -> None:
        self.redis_port, self.port = redis_port, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._requests: list[bytearray] = []
        self._lock = threading.Lock()
        self._stall: tuple[bytes, float] | None = None
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()

    def stall(self, marker: bytes | None, seconds: float = 0.0) -> None:
        """From now on, hold the reply to a request holding ``marker`` for ``seconds`` (None: stop)."""
        self._stall = (marker, seconds) if marker else None

    def round_trips(self) -> list[list[str]]:
        """The command names of each round trip since the last reset, connection handshakes left out."""
        with self._lock:
            trips = [command_names(bytes(r)) for r in self._requests]
        return [names for names in trips if not set(names) <= HANDSHAKE]

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.redis_port))
            state = {"pending": None}  # the request being sent, until its reply starts
            threading.Thread(target=self._pump_requests, args=(client, server, state), daemon=True).start()
            threading.Thread(target=self._pump_replies, args=(server, client, state), daemon=True).start()

    def _pump_requests(self, client: socket.socket, server: socket.socket, state: dict) -> None:
        while data := _recv(client):
            with self._lock:
                if state["pending"] is None:  # the client speaks after a reply: a new round trip
                    state["pending"] = bytearray()
                    self._requests.append(state["pending"])
                state["pending"] += data
            server.sendall(data)
        server.close()

    def _pump_replies(self, server: socket.socket, client: socket.socket, state: dict) -> None:
        while data := _recv(server):
            with self._lock:
                request, state["pending"] = state["pending"], None
            stall = self._stall
            if stall and request is not None and stall[0] in request:
                time.sleep(stall[1])
            try:
                client.sendall(data)
            except OSError:  # the client gave up waiting (a stalled reply)
                break
        client.close()


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""
