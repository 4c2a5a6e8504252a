"""python-network: a test plugin built by componentize-py's default build
(which imports wasi:sockets), used by tests/tests/languages_python.rs.

`list` of its one stream runs the `attack` setting:
- `socket`: `socket.create_connection` to 127.0.0.1:`port`, and `connect`:
  a TCP socket's `connect` to it (no name lookup); the sandbox must deny
  both, and the plugin reports the Python error it got as `fatal`;
- `raise`: a Python exception from a nested call, whose traceback the
  host must show in the error.
"""

# `create_connection` resolves its host through `getaddrinfo`, which encodes
# it with the `idna` codec: imported here so that the build bundles it and
# the attempt reaches the sandbox's socket layer.
import encodings.idna  # noqa: F401
import socket

import synchost_sdk as sh


def open_socket(port):
    """`socket.create_connection`: a name lookup, then a connection."""
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def raw_connect(port):
    """A TCP socket connected to an IP address: no name lookup."""
    conn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    conn.connect(("127.0.0.1", port))
    return conn


def connect(how, port):
    try:
        with how(port) as conn:
            conn.sendall(b"escaped the sandbox\n")
    except OSError as e:
        raise sh.Fatal(f"socket refused: {type(e).__name__}: {e}") from None
    return sh.page([sh.record("connected", "1", text="a socket reached the listener")])


def explode(depth):
    if depth == 0:
        raise ValueError("boom from python-network")
    return explode(depth - 1)


class Network(sh.Plugin):
    @classmethod
    def describe(cls):
        return sh.manifest(
            "python-network",
            "0.1.0",
            "Tries the network and Python errors from inside the sandbox",
            streams=[sh.stream("probe", "One probe per listing")],
            settings=[
                sh.setting("attack", "socket, connect or raise", required=True),
                sh.setting("port", "The port the socket attack connects to"),
                sh.setting("base_url", "Unused; the host's allowlist needs one"),
            ],
        )

    def __init__(self, settings):
        self.attack = settings.required("attack")
        self.port = settings.parse("port", int, 0)

    def list(self, stream, req):
        if self.attack == "socket":
            return connect(open_socket, self.port)
        if self.attack == "connect":
            return connect(raw_connect, self.port)
        if self.attack == "raise":
            return explode(3)
        raise sh.InvalidConfig(f"unknown attack `{self.attack}`")


Source = sh.export(Network)
