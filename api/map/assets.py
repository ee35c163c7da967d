"""The map's front-end files, served by the service itself so a map page needs no internet.

Folium 0.20 points every page at public CDNs for Leaflet, its plugins, jQuery, Bootstrap and
the icon fonts. ``make deps`` installs the same files from the npm registry into
``assets/node_modules`` (versions pinned by ``assets/package-lock.json``); :func:`mount_assets`
serves them, and :func:`localise_assets` rewrites a built map so that it asks for them there:

- ``/static/vendor/<npm package>@<version>/<path>``: a file of a package that
  ``assets/package.json`` pins, from ``assets/node_modules``;
- ``/static/folium/<folium version>/<file>``: a file from the installed folium package's
  ``templates/`` directory (the heat-map script), or, for the icon-rotation stylesheet that
  folium's wheel does not ship, one this module writes.

The version is part of every URL, so the files are cached for a year as immutable and an
upgrade changes the URL instead of leaving browsers with the old file.
"""

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Final, Literal

import folium
from branca.element import CssLink, Element, JavascriptLink
from fastapi import FastAPI
from folium.elements import JSCSSMixin
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from api.config import PROJECT_ROOT

ASSETS_DIR: Final = PROJECT_ROOT / "assets"
"""Where ``package.json``, ``package-lock.json`` and, after ``make deps``, ``node_modules`` are."""

CACHE_CONTROL: Final = "public, max-age=31536000, immutable"

FOLIUM_TEMPLATES: Final = Path(folium.__file__).resolve().parent / "templates"
FOLIUM_VERSION: Final = metadata.version("folium")

MEDIA_TYPES: Final[Mapping[str, str]] = MappingProxyType(
    {
        ".js": "text/javascript; charset=utf-8",
        ".css": "text/css; charset=utf-8",
        ".map": "application/json",
        ".png": "image/png",
        ".gif": "image/gif",
        ".svg": "image/svg+xml",
        ".woff2": "font/woff2",
        ".woff": "font/woff",
        ".ttf": "font/ttf",
        ".otf": "font/otf",
        ".eot": "application/vnd.ms-fontobject",
    }
)
"""The only kinds of file served, by suffix (anything else in a package is not served)."""


class AssetsNotInstalledError(RuntimeError):
    """``assets/node_modules`` is missing or does not match ``assets/package-lock.json``."""


class UnknownAssetError(LookupError):
    """A folium element asks for a remote file that has no local copy in :data:`FOLIUM_ASSETS`."""


def _is_clean_relative(path: str) -> bool:
    parts = path.split("/")
    return all(part not in ("", ".", "..") and "\\" not in part for part in parts)


@dataclass(frozen=True, slots=True)
class LocalAsset:
    """Where the service keeps a copy of one file folium would fetch from a CDN.

    ``source`` is ``"npm"`` (``package`` is an npm package of ``assets/package.json`` and
    ``path`` a file inside it), ``"folium"`` (``path`` is a file of folium's ``templates/``)
    or ``"generated"`` (``path`` names a file this module writes).
    """

    source: Literal["npm", "folium", "generated"]
    path: str
    package: str = ""

    def __post_init__(self) -> None:
        if (self.source == "npm") != bool(self.package):
            raise ValueError("an npm asset names its package, and only an npm asset does")
        if not _is_clean_relative(self.path):
            raise ValueError(f"asset path {self.path!r} must be relative with no '.' or '..'")


def _npm(package: str, path: str) -> LocalAsset:
    return LocalAsset("npm", path, package)


# Icon(angle=N) gives the icon the class fa-rotate-N; folium's CDN stylesheet turns that into a
# rotation, but folium's wheel does not ship the file, so the service writes an equivalent.
_ROTATE_CSS: Final = "".join(
    f".fa-rotate-{angle}{{transform:rotate({angle}deg)}}\n" for angle in range(-359, 360)
).encode()
_ROTATE_CSS_NAME: Final = (
    f"leaflet.awesome.rotate.{hashlib.sha256(_ROTATE_CSS).hexdigest()[:12]}.css"
)
_GENERATED: Final[Mapping[str, bytes]] = MappingProxyType({_ROTATE_CSS_NAME: _ROTATE_CSS})

FOLIUM_ASSETS: Final[Mapping[str, LocalAsset]] = MappingProxyType(
    {
        # folium.Map
        "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js": _npm(
            "leaflet", "dist/leaflet.js"
        ),
        "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css": _npm(
            "leaflet", "dist/leaflet.css"
        ),
        "https://code.jquery.com/jquery-3.7.1.min.js": _npm("jquery", "dist/jquery.min.js"),
        "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/js/bootstrap.bundle.min.js": _npm(
            "bootstrap", "dist/js/bootstrap.bundle.min.js"
        ),
        "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/css/bootstrap.min.css": _npm(
            "bootstrap", "dist/css/bootstrap.min.css"
        ),
        # Bootstrap 3's icon font, which folium.Icon uses by default (prefix="glyphicon"); the
        # npm bootstrap@3 has it only inside the whole Bootstrap 3 stylesheet, which would fight
        # Bootstrap 5, so a package with just the glyphicon rules and Bootstrap's font files.
        "https://netdna.bootstrapcdn.com/bootstrap/3.0.0/css/bootstrap-glyphicons.css": _npm(
            "@neos21/bootstrap3-glyphicons", "dist/css/bootstrap3-glyphicons.min.css"
        ),
        "https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@6.2.0/css/all.min.css": _npm(
            "@fortawesome/fontawesome-free", "css/all.min.css"
        ),
        # Leaflet.awesome-markers 2.0.2 is on npm only under this name (the npm package
        # "leaflet.awesome-markers" skips 2.0.2).
        "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.js": _npm(  # noqa: E501
            "drmonty-leaflet-awesome-markers", "js/leaflet.awesome-markers.js"
        ),
        "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.css": _npm(  # noqa: E501
            "drmonty-leaflet-awesome-markers", "css/leaflet.awesome-markers.css"
        ),
        "https://cdn.jsdelivr.net/gh/python-visualization/folium/folium/templates/leaflet.awesome.rotate.min.css": LocalAsset(  # noqa: E501
            "generated", _ROTATE_CSS_NAME
        ),
        # folium.plugins.MarkerCluster
        "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/leaflet.markercluster.js": _npm(  # noqa: E501
            "leaflet.markercluster", "dist/leaflet.markercluster.js"
        ),
        "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/MarkerCluster.css": _npm(  # noqa: E501
            "leaflet.markercluster", "dist/MarkerCluster.css"
        ),
        "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/MarkerCluster.Default.css": _npm(  # noqa: E501
            "leaflet.markercluster", "dist/MarkerCluster.Default.css"
        ),
        # folium.plugins.HeatMap: folium's own copy of leaflet.heat
        "https://cdn.jsdelivr.net/gh/python-visualization/folium@main/folium/templates/leaflet_heat.min.js": LocalAsset(  # noqa: E501
            "folium", "leaflet_heat.min.js"
        ),
        # folium.plugins.Realtime
        "https://cdnjs.cloudflare.com/ajax/libs/leaflet-realtime/2.2.0/leaflet-realtime.js": _npm(
            "leaflet-realtime", "dist/leaflet-realtime.js"
        ),
    }
)
"""Each CDN URL a folium element asks for (folium 0.20: Map, MarkerCluster, HeatMap, Realtime)
and the local copy served instead. A URL missing here makes :func:`localise_assets` fail."""


@lru_cache(maxsize=4)
def pinned_packages(assets_dir: Path = ASSETS_DIR) -> Mapping[str, str]:
    """Each npm package ``assets/package.json`` depends on, with the version the lock pins.

    Only these packages are served (not what they pull in).
    """
    try:
        manifest = json.loads((assets_dir / "package.json").read_text(encoding="utf-8"))
        lock = json.loads((assets_dir / "package-lock.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AssetsNotInstalledError(
            f"cannot read {assets_dir}/package.json and package-lock.json: {exc}"
        ) from exc
    locked = lock.get("packages", {})
    versions: dict[str, str] = {}
    for name in manifest.get("dependencies", {}):
        entry = locked.get(f"node_modules/{name}")
        if not entry or "version" not in entry:
            raise AssetsNotInstalledError(
                f"{assets_dir}/package-lock.json does not pin {name}: run `npm install "
                f"--package-lock-only --prefix assets` and commit the lock"
            )
        versions[name] = str(entry["version"])
    return MappingProxyType(versions)


def local_url(asset: LocalAsset, base_url: str = "/static", assets_dir: Path = ASSETS_DIR) -> str:
    """Return the URL the service serves ``asset`` at, under ``base_url``.

    >>> local_url(FOLIUM_ASSETS["https://code.jquery.com/jquery-3.7.1.min.js"])
    '/static/vendor/jquery@3.7.1/dist/jquery.min.js'
    """
    base = base_url.rstrip("/")
    if asset.source != "npm":
        return f"{base}/folium/{FOLIUM_VERSION}/{asset.path}"
    versions = pinned_packages(assets_dir)
    if asset.package not in versions:
        raise UnknownAssetError(
            f"{asset.package} is not a dependency in {assets_dir}/package.json: add it, pinned"
        )
    return f"{base}/vendor/{asset.package}@{versions[asset.package]}/{asset.path}"


def _is_remote(url: str) -> bool:
    lowered = url.strip().lower()
    return lowered.startswith(("http://", "https://", "//"))


def _elements(root: Element) -> Iterator[Element]:
    """``root``'s whole tree, from its figure down, the figure's header/html/script included."""
    stack: list[Element] = [root.get_root()]
    seen: set[int] = set()
    while stack:
        element = stack.pop()
        if id(element) in seen:
            continue
        seen.add(id(element))
        yield element
        stack.extend(element._children.values())
        for part in ("header", "html", "script"):
            child = getattr(element, part, None)
            if isinstance(child, Element):
                stack.append(child)


def localise_assets(
    root: Element, base_url: str = "/static", *, assets_dir: Path = ASSETS_DIR
) -> None:
    """Point every element of a built folium map at the service's copies of its JS and CSS.

    Call it on the map (or its figure) once every layer, plugin and control has been added,
    just before rendering: each element's ``default_js``/``default_css`` is replaced on the
    instance (folium's class-level lists stay as they are), and links already placed in the
    figure's header by an earlier render are rewritten too. URLs that are already local are
    left alone.

    Raises
    ------
    UnknownAssetError
        If an element asks for a remote file with no entry in :data:`FOLIUM_ASSETS` (a folium
        upgrade or a new plugin); nothing is changed then, and the message lists them all.
    """
    unknown: list[str] = []

    def localised(owner: Element, name: str, url: str) -> str:
        if not _is_remote(url):
            return url
        asset = FOLIUM_ASSETS.get(url.strip())
        if asset is None:
            unknown.append(f"{type(owner).__name__} {name!r}: {url}")
            return url
        return local_url(asset, base_url, assets_dir)

    js_updates: list[tuple[JSCSSMixin, list[tuple[str, str]]]] = []
    css_updates: list[tuple[JSCSSMixin, list[tuple[str, str]]]] = []
    link_updates: list[tuple[JavascriptLink | CssLink, str]] = []
    for element in _elements(root):
        if isinstance(element, JSCSSMixin):
            js = [(name, localised(element, name, url)) for name, url in element.default_js]
            css = [(name, localised(element, name, url)) for name, url in element.default_css]
            js_updates.append((element, js))
            css_updates.append((element, css))
        elif isinstance(element, JavascriptLink | CssLink) and isinstance(element.url, str):
            link_updates.append((element, localised(element, "link", element.url)))
    if unknown:
        raise UnknownAssetError(
            "these folium assets have no local copy (a folium upgrade or a new plugin?): "
            + "; ".join(unknown)
            + ". Add each to assets/package.json (pinned) and to FOLIUM_ASSETS in "
            "api/map/assets.py, or do without the element."
        )
    for element, js in js_updates:
        element.default_js = js
    for element, css in css_updates:
        element.default_css = css
    for element, url in link_updates:
        element.url = url


class AssetFiles:
    """An ASGI app serving GET/HEAD of files from a few fixed directories, nothing else.

    ``roots`` maps a URL prefix (``"leaflet@1.9.3"``, relative to where the app is mounted) to
    a directory; ``generated`` maps a path to bytes held in memory. A path with an empty,
    ``.`` or ``..`` segment or a backslash, one that resolves (symlinks included) outside its
    directory, or a file of a kind not in :data:`MEDIA_TYPES` gets 404.
    """

    def __init__(self, roots: Mapping[str, Path], generated: Mapping[str, bytes]) -> None:
        self._roots = {prefix: root.resolve() for prefix, root in roots.items()}
        self._generated = dict(generated)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # a websocket handshake: refused
            await send({"type": "websocket.close", "code": 1008})
            return
        response: Response
        if scope["method"] not in ("GET", "HEAD"):
            response = PlainTextResponse(
                "Method Not Allowed", status_code=405, headers={"Allow": "GET, HEAD"}
            )
        else:
            response = self._response(_route_path(scope))
        await response(scope, receive, send)

    def _response(self, route_path: str) -> Response:
        path = route_path.removeprefix("/")
        media_type = MEDIA_TYPES.get(PurePosixPath(path).suffix.lower())
        headers = {"Cache-Control": CACHE_CONTROL, "X-Content-Type-Options": "nosniff"}
        if media_type is None or not _is_clean_relative(path) or "\x00" in path:
            return _not_found()
        if path in self._generated:
            return Response(self._generated[path], media_type=media_type, headers=headers)
        for prefix, root in self._roots.items():
            if not path.startswith(prefix + "/"):
                continue
            candidate = root.joinpath(*path[len(prefix) + 1 :].split("/")).resolve()
            if candidate.is_relative_to(root) and candidate.is_file():
                return FileResponse(candidate, media_type=media_type, headers=headers)
        return _not_found()


def _not_found() -> Response:
    return PlainTextResponse("Not Found", status_code=404, headers={"Cache-Control": "no-store"})


def _route_path(scope: Scope) -> str:
    """Return the path below the mount point (Starlette keeps the full path in ``path``)."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    return path[len(root_path) :] if root_path and path.startswith(root_path) else path


def check_installed(assets_dir: Path = ASSETS_DIR) -> Mapping[str, Path]:
    """Each pinned package's directory in ``node_modules``, after checking the install.

    Raises
    ------
    AssetsNotInstalledError
        If ``node_modules`` is missing, a package is missing or at another version than the
        lock pins, or a file :data:`FOLIUM_ASSETS` names is not there.
    """
    node_modules = assets_dir / "node_modules"
    hint = "run `make deps` (npm ci --prefix assets)"
    if not node_modules.is_dir():
        raise AssetsNotInstalledError(
            f"the map's front-end files are not installed ({node_modules} is missing): {hint}"
        )
    directories: dict[str, Path] = {}
    for name, version in pinned_packages(assets_dir).items():
        directory = node_modules / name
        try:
            manifest = json.loads((directory / "package.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise AssetsNotInstalledError(f"{directory} is missing or broken: {hint}") from exc
        if manifest.get("version") != version:
            raise AssetsNotInstalledError(
                f"{directory} is version {manifest.get('version')} but assets/package-lock.json "
                f"pins {version}: {hint}"
            )
        directories[name] = directory
    for asset in FOLIUM_ASSETS.values():
        if asset.source == "npm":
            if asset.package not in directories:
                raise AssetsNotInstalledError(
                    f"FOLIUM_ASSETS uses {asset.package}, which assets/package.json does not pin"
                )
            expected = directories[asset.package] / asset.path
        elif asset.source == "folium":
            expected = FOLIUM_TEMPLATES / asset.path
        else:
            continue
        if not expected.is_file():
            raise AssetsNotInstalledError(f"{expected} is missing: {hint}")
    return directories


def mount_assets(app: FastAPI, base_url: str = "/static", *, assets_dir: Path = ASSETS_DIR) -> None:
    """Serve the pinned npm packages and folium's files under ``base_url`` on ``app``.

    ``{base_url}/vendor/<package>@<version>/…`` comes from ``assets/node_modules`` and
    ``{base_url}/folium/<folium version>/…`` from folium's ``templates/`` (plus the rotation
    stylesheet written here), each with ``Cache-Control: public, max-age=31536000, immutable``.
    Use the same ``base_url`` with :func:`localise_assets`. Other paths under ``base_url`` are
    left to other mounts.

    Raises
    ------
    AssetsNotInstalledError
        At start-up, if ``make deps`` has not installed the files the lock pins.
    """
    base = base_url.rstrip("/")
    versions = pinned_packages(assets_dir)
    vendor = AssetFiles(
        {f"{name}@{versions[name]}": path for name, path in check_installed(assets_dir).items()},
        {},
    )
    folium_files = AssetFiles(
        {FOLIUM_VERSION: FOLIUM_TEMPLATES},
        {f"{FOLIUM_VERSION}/{name}": content for name, content in _GENERATED.items()},
    )
    app.mount(f"{base}/vendor", vendor, name="vendor-assets")
    app.mount(f"{base}/folium", folium_files, name="folium-assets")
