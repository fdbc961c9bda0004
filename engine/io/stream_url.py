"""Stream URLs split once: to connect, to check, to show and to store them.

The stream source's checks, its name in messages and logs, and what the GUI keeps in
its settings all come from ``parse_stream_url``, so they never disagree about where the
password ends and the host begins. How a URL is split:

- ``scheme://``, then everything up to the LAST ``@`` is the user information (user
  name and password), so a password holding ``/ ? # @ :`` is never taken for the host
  or the path;
- then the host (an IPv6 address in brackets) and an optional ``:port``, up to the
  first ``/ ; ? #``; the path up to the first ``?`` or ``#``; the query up to ``#``;
  the rest is the fragment.
- When the text also reads as a URL with a usable host before an earlier ``@`` (or with
  no user information) whose last ``@`` then lies in its query, fragment, path
  parameters or a ``key=value`` path segment — ``http://cam/v?pwd=P@ss`` — the text
  after that ``@`` may be the end of a password, so nothing but the scheme is shown or
  stored.

Shown (``mask_url``): ``scheme://***@host:port/path?***`` — the user information as
``***@``, the path from its first ``;`` on (``;user=..;password=..``) removed, each
``key=value`` path segment as ``***``, any query as ``?***``, the fragment dropped.
Stored (``storable_url``): ``scheme://host:port/path`` with that path and nothing else
(``scheme://***`` in the ambiguous case above). Only the caller's original text, kept
in memory, carries the secrets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_HOST = re.compile(r"[\w.~-]+")  # a DNS name or IPv4 address (\w: IDN letters too)
_IPV6 = re.compile(r"\[[0-9A-Fa-f:.]+(%(25)?[\w.~-]+)?\]")
_DIGITS = re.compile(r"[0-9]+")
_AUTHORITY_END = re.compile(r"[/;?#]")
_UNPRINTABLE = re.compile(r"[\x00-\x20\x7f]")
HIDDEN = "***"


@dataclass(frozen=True)
class StreamUrl:
    """One URL, split (see the module docstring).

    scheme: lower case. userinfo: the raw text before the last ``@`` (None: no ``@``).
    host: as written, IPv6 in brackets; "" when missing. port: the text after the host's
    ``:`` (None: no colon). path: raw, from the first ``/`` or ``;`` after the authority.
    query / fragment: raw text after ``?`` / ``#`` (None: absent). problem: why the host
    or port cannot be used (None when both can), for the user. ambiguous: the text after
    the last ``@`` may be the end of a password (see the module docstring): only the
    scheme is shown. encode_userinfo: see ``connect_url``.
    """

    text: str
    scheme: str
    userinfo: str | None
    host: str
    port: str | None
    path: str
    query: str | None
    fragment: str | None
    problem: str | None
    ambiguous: bool = False
    encode_userinfo: bool = False

    @property
    def port_number(self) -> int | None:
        """The port as a number, None when absent or not a valid port."""
        if self.port is None or not _DIGITS.fullmatch(self.port):
            return None
        number = int(self.port)
        return number if 1 <= number <= 65535 else None

    def shown_path(self) -> str:
        """The path up to its first ``;`` (a password there may hold ``/``), each ``key=value``
        segment as ``***``, control characters and spaces escaped."""
        segments = [HIDDEN if "=" in segment else segment for segment in self.path.split(";", 1)[0].split("/")]
        return _UNPRINTABLE.sub(lambda m: f"%{ord(m.group()):02X}", "/".join(segments))

    def _shown_authority(self) -> str:
        host = self.host if _valid_host(self.host) else (HIDDEN if self.host else "")
        if self.port is None:
            port = ""
        else:
            port = f":{self.port}" if _DIGITS.fullmatch(self.port) else f":{HIDDEN}"
        return host + port

    def masked(self) -> str:
        """``scheme://***@host:port/path?***``: safe for messages, logs and the screen."""
        if self.ambiguous:
            return f"{self.scheme}://{HIDDEN}"
        userinfo = f"{HIDDEN}@" if self.userinfo is not None else ""
        query = f"?{HIDDEN}" if self.query else ""
        return f"{self.scheme}://{userinfo}{self._shown_authority()}{self.shown_path()}{query}"

    def storable(self) -> str:
        """``scheme://host:port/path``: no user, password, parameters, query or fragment."""
        if self.ambiguous:
            return f"{self.scheme}://{HIDDEN}"
        return f"{self.scheme}://{self._shown_authority()}{self.shown_path()}"

    @property
    def worth_storing(self) -> bool:
        """Whether ``storable`` names a host and port that can be used again."""
        return self.problem is None and not self.ambiguous

    def hides_anything(self) -> bool:
        """Whether ``masked`` leaves out or hides part of the URL (user, parameters, query, fragment)."""
        return (self.userinfo is not None or self.query is not None or self.fragment is not None
                or self.shown_path() != self.path)

    def connect_url(self) -> str:
        """The original URL for the stream library (FFmpeg), which ends the user information
        at the last ``@`` before the first ``/ ? #``. Where that reading finds no usable
        host but this parser's does — a password holding ``/ ? #`` — the user information
        is percent-encoded (FFmpeg decodes it) so both connect to the same host."""
        if not self.encode_userinfo or self.userinfo is None:
            return self.text
        userinfo = quote(self.userinfo, safe=":%!$&'()*+,;=-._~")
        rest = self.text.split("://", 1)[1][len(self.userinfo) + 1:]
        return f"{self.scheme}://{userinfo}@{rest}"


def _valid_host(host: str) -> bool:
    return bool(_IPV6.fullmatch(host) if host.startswith("[") else _HOST.fullmatch(host))


def _split_authority(after: str) -> tuple[str, str | None, str, str | None]:
    """(host, port, the rest from the path on, problem) of the text after the user information."""
    if after.startswith("["):
        close = after.find("]")
        if close < 0:
            end = _AUTHORITY_END.search(after)
            host = after[:end.start()] if end else after
            return host, None, after[len(host):], "not a valid URL (an IPv6 address needs its closing ']')"
        host, tail = after[:close + 1], after[close + 1:]
        end = _AUTHORITY_END.search(tail)
        between, rest = (tail[:end.start()], tail[end.start():]) if end else (tail, "")
        if between and not between.startswith(":"):
            return host, None, rest, "not a valid URL (only ':port' may follow an IPv6 address)"
        port = between[1:] or None
    else:
        end = _AUTHORITY_END.search(after)
        authority, rest = (after[:end.start()], after[end.start():]) if end else (after, "")
        host, _colon, port_text = authority.partition(":")
        port = port_text or None  # "host:" has no port, as RFC 3986 allows
    if host and not _valid_host(host):
        return host, port, rest, ("not a valid URL (the host name has characters a host name cannot have; "
                                  "a user name or password goes before the last '@')")
    return host, port, rest, None


def _checked_authority(after: str) -> tuple[str, str | None, str, str | None]:
    """``_split_authority`` with the host required and the port checked."""
    host, port, tail, problem = _split_authority(after)
    if problem is None and not host:
        problem = "the URL names no host (e.g. rtsp://192.168.1.20:554/stream)"
    if problem is None and port is not None and not _DIGITS.fullmatch(port):
        problem = "the port is not a number (e.g. rtsp://192.168.1.20:554/stream)"
    if problem is None and port is not None and not 1 <= int(port) <= 65535:
        problem = "the port must be between 1 and 65535"
    return host, port, tail, problem


def _may_end_a_secret(rest: str, last: int) -> bool:
    """Whether ``rest`` (the text after ``scheme://``) also reads as a URL with a usable host
    — its user information ending at an earlier ``@``, or absent — in which the ``@`` at
    index ``last`` lies in a query, fragment, path parameter or ``key=value`` segment: then
    what follows that ``@`` may be the end of a password."""
    starts = [0] + [i + 1 for i, c in enumerate(rest[:last]) if c == "@"]
    for start in starts:
        _host, _port, tail, problem = _checked_authority(rest[start:])
        if problem is not None:
            continue  # no usable host in this reading
        before = rest[len(rest) - len(tail):last]
        if any(c in before for c in "?#;"):
            return True
        segment = before.rpartition("/")[2] + re.split(r"[/;?#]", rest[last:], maxsplit=1)[0]
        if "=" in segment:
            return True
    return False


def _usual_reading_has_host(rest: str) -> bool:
    """Whether ``rest`` has a usable host when its user information ends at the last ``@``
    before the first ``/ ? #`` (RFC 3986, and FFmpeg)."""
    end = re.search(r"[/?#]", rest)
    cut = end.start() if end else len(rest)
    return _checked_authority(rest[:cut].rpartition("@")[2] + rest[cut:])[3] is None


def parse_stream_url(text: str) -> StreamUrl | None:
    """``text`` split as in the module docstring; None when it has no ``scheme://``. Never raises."""
    stripped = str(text).strip()
    scheme, sep, rest = stripped.partition("://")
    if not sep or not _SCHEME.fullmatch(scheme):
        return None
    at = rest.rfind("@")
    userinfo, after = (rest[:at], rest[at + 1:]) if at >= 0 else (None, rest)
    host, port, tail, problem = _checked_authority(after)
    tail, hash_, fragment = tail.partition("#")
    path, question, query = tail.partition("?")
    ambiguous = at >= 0 and _may_end_a_secret(rest, at)
    encode = (userinfo is not None and problem is None and not ambiguous and any(c in userinfo for c in "/?#")
              and not _usual_reading_has_host(rest))
    return StreamUrl(stripped, scheme.lower(), userinfo, host, port, path, query if question else None,
                     fragment if hash_ else None, problem, ambiguous, encode)


def mask_url(url: str) -> str:
    """``url`` safe to show or log (see the module docstring); ``***`` when it is not a URL.

    "rtsp://admin:hunter2@10.0.0.5:554/live;password=x?token=abc#t" -> "rtsp://***@10.0.0.5:554/live?***".
    """
    parsed = parse_stream_url(url)
    return parsed.masked() if parsed is not None else HIDDEN


def storable_url(url: str) -> str:
    """``url`` reduced to scheme, host, port and path: what may be written to the settings.

    "rtsp://admin:hunter2@10.0.0.5:554/live?token=abc" -> "rtsp://10.0.0.5:554/live".
    """
    parsed = parse_stream_url(url)
    return parsed.storable() if parsed is not None else HIDDEN


def remembered_url(url: str) -> str | None:
    """``storable_url(url)`` when that names a usable host and port, else None (not worth keeping)."""
    parsed = parse_stream_url(url)
    return parsed.storable() if parsed is not None and parsed.worth_storing else None


def hide_url_in(message: str, url: str) -> str:
    """``message`` with every copy of ``url`` (as typed, or stripped) replaced by its masked form."""
    for variant in {str(url), str(url).strip()}:
        if variant.strip():
            message = message.replace(variant, mask_url(url))
    return message
