"""Web links in messages: which URLs are plain http(s) links that open the host they show.

LINE opens http(s) URIs in its browser as they are; a user name before `@` (or a backslash,
which browsers read as a slash) makes the host a shopper sees differ from the one that opens,
so such a URL is not a web link here. Templates, tracking and the shop API all check links
with these rules, and with the shop's list of hosts its links may open (LINK_HOSTS).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from urllib.parse import urlsplit

WEB_SCHEMES = frozenset({"http", "https"})


def is_web_url(url: str) -> bool:
    """True if the URL is an absolute http(s) URL with a host and no user name or password."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in WEB_SCHEMES and bool(parts.netloc) and not has_userinfo(url)


def has_userinfo(url: str) -> bool:
    """True if the URL's authority holds `user@` (or a backslash browsers read as a slash).

    `https://shop.example@evil.example/` opens evil.example: whatever stands before the `@`
    only looks like the host. Browsers also read `\\` as `/`, so `https://evil.example\\.shop`
    goes to evil.example while Python sees one odd host name; neither belongs in a link.
    """
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return False
    return "@" in netloc or "\\" in netloc


_HOST = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")


def normalise_host(text: str) -> str | None:
    """A host name lower-cased without a trailing dot, or None if it is not a plain DNS name.

    A `*.` prefix is kept: it stands for any subdomain in the allowed-host list.
    """
    host = text.strip().lower().rstrip(".")
    bare = host[2:] if host.startswith("*.") else host
    return host if _HOST.match(bare) else None


def link_host(url: str) -> str | None:
    """The host an http(s) link opens, normalised; None if the URL is not a plain web link."""
    if not is_web_url(url):
        return None
    try:
        hostname = urlsplit(url).hostname
    except ValueError:
        return None
    host = normalise_host(hostname or "")
    return host if host is not None and not host.startswith("*.") else None


def host_allowed(url: str, hosts: Collection[str]) -> bool:
    """True if the link opens one of `hosts` (exact names, or `*.name` for its subdomains)."""
    host = link_host(url)
    if host is None:
        return False
    return any(
        host.endswith(entry[1:]) if entry.startswith("*.") else host == entry for entry in hosts
    )
