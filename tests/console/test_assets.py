"""shared.console.assets: which files the console serves, with which type, cache policy and
security headers; nothing outside the folder, whatever the path (traversal, encodings,
symlinks, hypothesis-generated paths). Also checks the static files themselves against the
CSP they are served with (no inline script or style) and that every reference resolves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.console import assets

CONSOLE = Path(assets.__file__).resolve().parent


@pytest.mark.parametrize(("path", "content_type"), [
    ("", "text/html; charset=utf-8"),
    ("index.html", "text/html; charset=utf-8"),
    ("console.css", "text/css; charset=utf-8"),
    ("console.js", "text/javascript; charset=utf-8"),
    ("chart.js", "text/javascript; charset=utf-8"),
    ("icon.svg", "image/svg+xml"),
    ("vendor/msal-browser-5.30.0.min.js", "text/javascript; charset=utf-8"),
    ("vendor/msal-browser-LICENSE.txt", "text/plain; charset=utf-8"),
])
def test_console_files_are_found_with_their_type(path: str, content_type: str) -> None:
    found = assets.find(path)
    assert found is not None
    assert found.content_type == content_type
    assert found.body == (CONSOLE / (path or "index.html")).read_bytes()


@pytest.mark.parametrize("path", [
    "..", "../settings.py", "../../function_app.py", "vendor/../../settings.py",
    "%2e%2e/settings.py", "..%2fsettings.py", "vendor%2f..%2fconfig.py", "..\\settings.py",
    "vendor\\msal-browser-LICENSE.txt", "/etc/passwd", "//etc/passwd", "vendor//x.js",
    "./index.html", ".hidden.js", "index.html\x00.js", "index.html/", "nope.js", "vendor",
    "__init__.py", "assets.py", "config.py", "__pycache__/assets.cpython-311.pyc",
    "index.HTML", "a/b/c/d.js", "x" * 101 + ".js", "index.html?x=1", "index.html#x",
])
def test_anything_else_is_not_found(path: str) -> None:
    assert assets.find(path) is None


def test_a_symlink_out_of_the_folder_is_not_followed(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    outside = tmp_path / "outside.js"
    outside.write_text("secret")
    folder = tmp_path / "console"
    folder.mkdir()
    (folder / "inside.js").write_text("ok")
    (folder / "leak.js").symlink_to(outside)
    monkeypatch.setattr(assets, "ASSET_DIR", folder.resolve())
    found = assets.find("inside.js")
    assert found is not None
    assert found.body == b"ok"
    assert assets.find("leak.js") is None


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("./\\%2ecfgijlnopsvx_-:\x00 ")), max_size=40))
def test_no_path_reaches_a_file_outside_the_folder(path: str) -> None:
    found = assets.find(path)
    if found is not None:
        file = (CONSOLE / found.name).resolve()
        assert file.is_relative_to(CONSOLE)
        assert file.suffix in assets.CONTENT_TYPES


def test_vendored_files_are_cached_for_good_and_the_consoles_own_revalidated() -> None:
    vendored = assets.find("vendor/msal-browser-5.30.0.min.js")
    own = assets.find("console.js")
    assert vendored is not None
    assert own is not None
    assert vendored.cache_control == "public, max-age=31536000, immutable"
    assert own.cache_control == "no-cache"
    assert own.etag != vendored.etag
    assert own.etag == assets.find("console.js").etag  # type: ignore[union-attr]
    assert re.fullmatch(r'"[0-9a-f]{32}"', own.etag)


def test_security_headers_allow_only_this_origin_without_entra() -> None:
    headers = assets.security_headers(None)
    policy = dict(d.split(" ", 1) for d in headers["Content-Security-Policy"].split("; "))
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["img-src"] == "'self' data:"
    assert policy["connect-src"] == "'self'"
    assert policy["frame-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_security_headers_let_msal_reach_entra_when_configured() -> None:
    headers = assets.security_headers("https://login.microsoftonline.com")
    policy = dict(d.split(" ", 1) for d in headers["Content-Security-Policy"].split("; "))
    assert policy["connect-src"] == "'self' https://login.microsoftonline.com"
    assert policy["frame-src"] == "https://login.microsoftonline.com"
    assert policy["script-src"] == "'self'"  # MSAL is served from here, never from a CDN


# --- the static files against the CSP they are served with ------------------------------------


def _own_files(suffix: str) -> list[Path]:
    return sorted(p for p in CONSOLE.glob(f"*{suffix}"))


def test_index_has_no_inline_script_or_style() -> None:
    html = (CONSOLE / "index.html").read_text(encoding="utf-8")
    assert all('src="' in tag for tag in re.findall(r"<script[^>]*>", html))
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html)
    assert "<style" not in html


def test_every_file_the_page_references_is_served() -> None:
    html = (CONSOLE / "index.html").read_text(encoding="utf-8")
    referenced = re.findall(r'(?:src|href)="/console/([^"]+)"', html)
    assert {"console.js", "console.css", "icon.svg"} <= set(referenced)
    for path in referenced:
        assert assets.find(path) is not None, path


def test_every_module_import_resolves_and_no_script_writes_markup() -> None:
    modules = _own_files(".js")
    assert {"console.js", "api.js", "auth.js", "chart.js", "dom.js"} <= {m.name for m in modules}
    for module in modules:
        text = module.read_text(encoding="utf-8")
        for target in re.findall(r'from "\./([^"]+)"', text):
            assert (CONSOLE / target).is_file(), f"{module.name} imports missing {target}"
        # Values from the API become text nodes (dom.js), never markup; inline styles would be
        # refused by the CSP.
        assert "innerHTML" not in text, module.name
        assert "outerHTML" not in text, module.name
        assert 'setAttribute("style"' not in text
        assert "insertAdjacentHTML" not in text
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")
        assert "https://" not in text, f"{module.name} reaches outside this origin"


def test_the_vendored_msal_is_the_pinned_version_with_its_license() -> None:
    [bundle] = (CONSOLE / "vendor").glob("msal-browser-*.min.js")
    version = bundle.name.removeprefix("msal-browser-").removesuffix(".min.js")
    assert bundle.read_text(encoding="utf-8").startswith(f"/*! @azure/msal-browser v{version} ")
    assert "MIT License" in (CONSOLE / "vendor" / "msal-browser-LICENSE.txt").read_text()
    auth = (CONSOLE / "auth.js").read_text(encoding="utf-8")
    assert f'"/console/vendor/{bundle.name}"' in auth
