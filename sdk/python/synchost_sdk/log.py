"""Messages to the host's log, tagged with the plugin's name (never secrets
or whole payloads). Natively (unit tests), to stderr."""

import sys

from . import _wit

_LEVEL = _wit.log.Level


def log(level, message):
    """Writes `message` at `level` (`wit_world.imports.log.Level`)."""
    if _wit.IN_HOST:
        _wit.log.log(level, str(message))
    else:
        print(f"plugin log {level.name}: {message}", file=sys.stderr)


def trace(message):
    log(_LEVEL.TRACE, message)


def debug(message):
    log(_LEVEL.DEBUG, message)


def info(message):
    log(_LEVEL.INFO, message)


def warn(message):
    log(_LEVEL.WARN, message)


def error(message):
    log(_LEVEL.ERROR, message)
