"""Classified failures: the WIT `error` variant as Python exceptions.

Raise them from `configure`, `streams` and `list` (the SDK turns them into
`Err(error)` for the host); put them in the list `fetch` returns for the ids
that failed. Any other exception is a bug: it crashes the call, and the host
shows its traceback in the error.
"""

from ._wit import types

#: The largest `rate-limited` wait (a WIT `u32`).
U32_MAX = 2**32 - 1


class Error(Exception):
    """A failure the host acts on by its kind (`Fatal` stops the run)."""

    #: The WIT case, e.g. `not-found`.
    kind = "fatal"

    def __init__(self, message=""):
        super().__init__(message)
        self.message = str(message)

    def to_wit(self):
        """The WIT `error` value."""
        return _WIT[type(self).kind](self.message)

    def __eq__(self, other):
        return type(self) is type(other) and self.to_wit() == other.to_wit()

    def __hash__(self):
        return hash((type(self), self.message))

    def __repr__(self):
        return f"{type(self).__name__}({self.message!r})"


class Auth(Error):
    """Credentials are missing, wrong or expired: the run stops (exit 3)."""

    kind = "auth"


class RateLimited(Error):
    """The remote asked to slow down: the host waits `seconds` and repeats
    the call. `seconds` is clamped to 1..2**32-1 (a WIT `u32`)."""

    kind = "rate-limited"

    def __init__(self, seconds, message=""):
        self.seconds = max(1, min(int(seconds), U32_MAX))
        super().__init__(message or f"rate limited: wait {self.seconds} s")

    def to_wit(self):
        return types.Error_RateLimited(self.seconds)


class Transient(Error):
    """A temporary failure: the host retries the call with backoff."""

    kind = "transient"


class NotFound(Error):
    """The item no longer exists: it is skipped and recorded."""

    kind = "not-found"


class InvalidConfig(Error):
    """A setting is wrong; the message says which."""

    kind = "invalid-config"


class InvalidResponse(Error):
    """The remote answered with something the plugin cannot understand."""

    kind = "invalid-response"


class Conflict(Error):
    """A push was based on a version that is no longer current."""

    kind = "conflict"


class Unsupported(Error):
    """The plugin does not support this stream or operation."""

    kind = "unsupported"


class Fatal(Error):
    """Anything else: the run stops with its checkpoint intact."""

    kind = "fatal"


_WIT = {
    "auth": types.Error_Auth,
    "transient": types.Error_Transient,
    "not-found": types.Error_NotFound,
    "invalid-config": types.Error_InvalidConfig,
    "invalid-response": types.Error_InvalidResponse,
    "conflict": types.Error_Conflict,
    "unsupported": types.Error_Unsupported,
    "fatal": types.Error_Fatal,
}

_FROM_WIT = {
    types.Error_Auth: Auth,
    types.Error_Transient: Transient,
    types.Error_NotFound: NotFound,
    types.Error_InvalidConfig: InvalidConfig,
    types.Error_InvalidResponse: InvalidResponse,
    types.Error_Conflict: Conflict,
    types.Error_Unsupported: Unsupported,
    types.Error_Fatal: Fatal,
}


def from_wit(error):
    """The exception for a WIT `error` value (e.g. `types.Error_NotFound`)."""
    if isinstance(error, types.Error_RateLimited):
        return RateLimited(error.value)
    return _FROM_WIT[type(error)](error.value)


def unknown_stream(stream):
    """`Unsupported`: the plugin has no stream named `stream`."""
    return Unsupported(f"unknown stream `{stream}`")
