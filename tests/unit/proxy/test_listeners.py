"""The listeners' socket handling."""

from __future__ import annotations

import socket

import pytest

from hub.proxy.listeners import refuse_connections


def test_a_refused_listener_takes_no_new_connection_but_keeps_its_queue() -> None:
    with socket.create_server(("127.0.0.1", 0), backlog=8) as server:
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as queued:
            queued.sendall(b"call")
            if not refuse_connections(server):
                pytest.skip("socket filters are Linux's")
            with socket.socket() as late:
                late.settimeout(0.3)
                with pytest.raises(TimeoutError):
                    late.connect(("127.0.0.1", port))  # the kernel dropped its SYN
            accepted, _ = server.accept()
            with accepted:
                assert accepted.recv(10) == b"call"
    with socket.socket() as after, pytest.raises(ConnectionRefusedError):
        after.connect(("127.0.0.1", port))  # closed: refused at once, the client goes elsewhere
