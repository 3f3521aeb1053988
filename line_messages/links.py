"""Web links in messages: which URLs are plain http(s) links that open the host they show.

LINE opens http(s) URIs in its browser as they are; a user name before `@` (or a backslash,
which browsers read as a slash) makes the host a shopper sees differ from the one that opens,
so such a URL is not a web link here. Templates, tracking and the shop API all check links
with these rules.
"""

from __future__ import annotations

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
