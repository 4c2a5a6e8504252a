"""The settings given to `configure` (from `synchost.toml` or `--set`).

They never hold secrets: the host adds credentials to requests itself. A
value that is empty or only whitespace counts as absent; every failure is an
`InvalidConfig` naming the setting, as in the Rust SDK.
"""

from .errors import InvalidConfig


class Settings:
    """The `(name, value)` pairs; when a name repeats, the last wins."""

    def __init__(self, pairs=()):
        if isinstance(pairs, dict):
            pairs = pairs.items()
        self.pairs = [(str(k), str(v)) for k, v in pairs]

    def get(self, name):
        """The value of `name`, or None when absent or blank."""
        for key, value in reversed(self.pairs):
            if key == name:
                return value if value.strip() else None
        return None

    def required(self, name):
        """The value of `name`; `InvalidConfig` when it is absent."""
        value = self.get(name)
        if value is None:
            raise InvalidConfig(f"setting `{name}` is required")
        return value

    def get_or(self, name, default):
        """The value of `name`, or `default` when it is absent."""
        value = self.get(name)
        return default if value is None else value

    def parse(self, name, convert=int, default=None):
        """The value of `name` converted by `convert` (`int`, `float`,
        `flag`...), or `default` when absent; `InvalidConfig` when the
        conversion fails."""
        raw = self.get(name)
        if raw is None:
            return default
        try:
            return convert(raw.strip())
        except (TypeError, ValueError) as e:
            raise InvalidConfig(f"setting `{name}`: invalid value `{raw}`: {e}") from None

    def url(self, name):
        """The required setting `name` as a base URL: an absolute http(s)
        URL with a host, no query or fragment; returned without trailing
        `/`, ready for `f"{base}/items"`."""
        raw = self.required(name).strip()

        def bad(why):
            return InvalidConfig(f"setting `{name}` must be {why}, got `{raw}`")

        lower = raw.lower()
        if lower.startswith("https://"):
            rest = raw[8:]
        elif lower.startswith("http://"):
            rest = raw[7:]
        else:
            raise bad("an http:// or https:// URL")
        if not rest or rest.startswith("/"):
            raise bad("a URL with a host")
        if any(c.isspace() or not c.isprintable() for c in raw):
            raise bad("a URL without spaces")
        if "?" in raw or "#" in raw:
            raise bad("a base URL without query or fragment")
        return raw.rstrip("/")

    def __iter__(self):
        return iter(self.pairs)

    def __repr__(self):
        return f"Settings({self.pairs!r})"


def flag(text):
    """`true` or `false` (as Rust's `bool` parses), for `Settings.parse`."""
    if text in ("true", "false"):
        return text == "true"
    raise ValueError("expected `true` or `false`")
