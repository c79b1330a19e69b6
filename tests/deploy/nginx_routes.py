"""Which ``location`` of docker/nginx.conf answers a path, the way nginx picks it: the URI decoded and
its slashes merged first, then an exact (``=``) match, else the longest prefix, which wins outright
when marked ``^~`` (the file has no regex locations; a test checks that)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

LOCATION = re.compile(r"location\s+(=|\^~|~\*?)?\s*(\S+)\s*\{(.*?)\}", re.S)


@dataclass(frozen=True)
class Location:
    modifier: str  # "", "=", "^~", "~", "~*"
    path: str
    body: str

    @property
    def proxied(self) -> bool:
        return "proxy_pass" in self.body

    @property
    def status(self) -> int | None:
        """The status of a ``return`` or ``deny`` in the block (deny: 403), None when it has neither."""
        found = re.search(r"\breturn\s+(\d{3})", self.body)
        if found:
            return int(found.group(1))
        return 403 if re.search(r"\bdeny\s+all\s*;", self.body) else None


def server_blocks(conf: str) -> list[str]:
    """The text of each ``server { ... }`` block (braces balanced)."""
    blocks = []
    for match in re.finditer(r"\bserver\s*\{", conf):
        depth, i = 1, match.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(conf[i], 0)
            i += 1
        blocks.append(conf[match.end():i - 1])
    return blocks


def locations(server: str) -> list[Location]:
    return [Location(m.group(1) or "", m.group(2), m.group(3)) for m in LOCATION.finditer(server)]


def normalize(raw_uri: str) -> str:
    """nginx's view of a request URI: no query, %XX decoded, repeated slashes merged."""
    return re.sub(r"/{2,}", "/", unquote(raw_uri.split("?", 1)[0]))


def route(server: str, raw_uri: str) -> Location:
    """The location that answers ``raw_uri`` in ``server``."""
    uri, blocks = normalize(raw_uri), locations(server)
    assert not [b for b in blocks if b.modifier.startswith("~")], "regex locations: extend this matcher"
    exact = [b for b in blocks if b.modifier == "=" and b.path == uri]
    if exact:
        return exact[0]
    prefixes = [b for b in blocks if b.modifier in ("", "^~") and uri.startswith(b.path)]
    assert prefixes, f"no location answers {uri}"
    return max(prefixes, key=lambda b: len(b.path))


def nginx_servers(path: Path) -> list[str]:
    text = re.sub(r"#[^\n]*", "", path.read_text())  # comments may hold braces or the word location
    return server_blocks(text)
