"""The console's static files as the blueprint serves them: a file is found only inside this
folder, by a plain relative path of a known type; anything else (other types, dot files,
"..", encoded or backslashed paths, symlinks out of the folder) is simply not found.

Every answer carries the same security headers: a Content-Security-Policy that allows only
this origin (plus Entra's sign-in origin when Entra sign-in is configured, for MSAL's token
requests and silent-renewal frame) and forbids framing."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

ASSET_DIR = Path(__file__).resolve().parent

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
}

# Names start with a letter or digit (no dot files, no ".."), and hold no separators or
# escapes of any kind, so a path is a path and nothing else.
_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_MAX_DEPTH = 3

# Vendored files carry their version in the name, so a browser may keep them; the console's
# own files have fixed names (no build step) and are revalidated on every load.
_IMMUTABLE = "public, max-age=31536000, immutable"
_REVALIDATE = "no-cache"


@dataclass(frozen=True)
class Asset:
    """One file of the console: its bytes, type, cache policy and a strong ETag."""

    name: str
    body: bytes
    content_type: str
    cache_control: str

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:32] + '"'


def find(path: str) -> Asset | None:
    """The console file at `path` (relative to /console/; "" is index.html), or None."""
    path = path or "index.html"
    segments = path.split("/")
    if len(segments) > _MAX_DEPTH or not all(_SEGMENT.fullmatch(s) for s in segments):
        return None
    content_type = CONTENT_TYPES.get(PurePosixPath(path).suffix)
    if content_type is None:
        return None
    file = ASSET_DIR.joinpath(*segments).resolve()
    if not file.is_relative_to(ASSET_DIR) or not file.is_file():
        return None
    cache = _IMMUTABLE if segments[0] == "vendor" else _REVALIDATE
    return Asset(name=path, body=file.read_bytes(), content_type=content_type,
                 cache_control=cache)


def security_headers(sign_in_origin: str | None) -> dict[str, str]:
    """Headers for every console answer; `sign_in_origin` is Entra's (https://login...) when
    Entra sign-in is configured: MSAL fetches tokens from it and renews them in a hidden frame."""
    extra = f" {sign_in_origin}" if sign_in_origin else ""
    policy = "; ".join([
        "default-src 'self'",
        "img-src 'self' data:",
        "style-src 'self'",
        "script-src 'self'",
        f"connect-src 'self'{extra}",
        f"frame-src {sign_in_origin}" if sign_in_origin else "frame-src 'none'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
    }
