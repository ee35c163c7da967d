"""The folium map's JS, CSS and fonts come from the service itself, never from a CDN."""

import asyncio
import json
import re
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import folium
import pytest
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.testclient import TestClient
from folium import plugins
from starlette.types import Message

from api.map.assets import (
    ASSETS_DIR,
    CACHE_CONTROL,
    FOLIUM_ASSETS,
    FOLIUM_VERSION,
    AssetFiles,
    AssetsNotInstalledError,
    UnknownAssetError,
    check_installed,
    local_url,
    localise_assets,
    mount_assets,
)

REMOTE = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)
CSS_URL = re.compile(r"""url\(\s*(['"]?)([^'")]+)\1\s*\)""")


class _Links(HTMLParser):
    """Every ``<script src>`` and ``<link href>`` of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.stylesheets: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script" and values.get("src"):
            self.scripts.append(str(values["src"]))
        if tag == "link" and values.get("href"):
            self.stylesheets.append(str(values["href"]))


def _dispatcher_map() -> folium.Map:
    """A map with every kind of layer the dispatcher page uses."""
    m = folium.Map(location=[31.23, 121.47], zoom_start=11, tiles=None, maxZoom=19)
    cluster = plugins.MarkerCluster(name="tickets").add_to(m)
    folium.Marker([31.23, 121.47], icon=folium.Icon(color="red", angle=45)).add_to(cluster)
    folium.Marker([31.24, 121.48], icon=folium.Icon(prefix="fa", icon="wrench")).add_to(cluster)
    plugins.HeatMap([[31.23, 121.47, 1.0], [31.25, 121.5, 0.5]], name="demand").add_to(m)
    plugins.Realtime("/v1/map/technicians", interval=5000, name="technicians").add_to(m)
    square = [[121.5, 31.2], [121.6, 31.2], [121.6, 31.3], [121.5, 31.2]]
    region = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"name": "Pudong"},
                "geometry": {"type": "Polygon", "coordinates": [square]},
            }
        ],
    }
    folium.GeoJson(region, name="regions", tooltip=folium.GeoJsonTooltip(["name"])).add_to(m)
    folium.LayerControl().add_to(m)
    return m


@pytest.fixture(scope="module")
def page() -> _Links:
    m = _dispatcher_map()
    localise_assets(m)
    links = _Links()
    links.feed(m.get_root().render())
    return links


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    app = FastAPI()
    mount_assets(app)
    with TestClient(app) as test_client:
        yield test_client


def test_the_rendered_map_asks_no_other_host(page: _Links) -> None:
    urls = page.scripts + page.stylesheets
    # the map uses every element the table covers, so every entry shows up, once
    assert sorted(urls) == sorted(local_url(asset) for asset in FOLIUM_ASSETS.values())
    assert [url for url in urls if REMOTE.match(url)] == []
    assert all(url.startswith(("/static/vendor/", "/static/folium/")) for url in urls)
    assert "/static/vendor/leaflet@1.9.3/dist/leaflet.js" in page.scripts
    assert "/static/vendor/leaflet-realtime@2.2.0/dist/leaflet-realtime.js" in page.scripts
    assert f"/static/folium/{FOLIUM_VERSION}/leaflet_heat.min.js" in page.scripts


def test_every_local_url_of_the_page_is_served_with_its_type(
    page: _Links, client: TestClient
) -> None:
    for url in page.scripts:
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["content-type"].startswith("text/javascript"), url
        assert response.headers["cache-control"] == CACHE_CONTROL
        assert len(response.content) > 0
    for url in page.stylesheets:
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["content-type"].startswith("text/css"), url
        assert response.headers["cache-control"] == CACHE_CONTROL


FONT_TYPES = {
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
    ".eot": "application/vnd.ms-fontobject",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}


def test_the_files_the_stylesheets_point_at_resolve(page: _Links, client: TestClient) -> None:
    fetched: set[str] = set()
    for sheet in page.stylesheets:
        css = client.get(sheet).text
        for _, reference in CSS_URL.findall(css):
            if reference.startswith(("data:", "#")):
                continue
            assert not REMOTE.match(reference), f"{sheet} points at {reference}"
            target = urlsplit(urljoin(sheet, reference)).path
            response = client.get(target)
            assert response.status_code == 200, f"{sheet} -> {reference}"
            suffix = Path(target).suffix
            assert response.headers["content-type"] == FONT_TYPES[suffix], target
            fetched.add(target)
    # the icon fonts and the marker sprites among them
    assert {Path(p).name for p in fetched} >= {
        "fa-solid-900.woff2",
        "fa-regular-400.woff2",
        "fa-brands-400.woff2",
        "glyphicons-halflings-regular.woff2",
        "markers-soft.png",
        "layers.png",
        "marker-icon.png",
    }


def test_leaflet_finds_its_default_marker_images(client: TestClient) -> None:
    # Leaflet derives these from the folder of marker-icon.png named in leaflet.css
    for name in ("marker-icon.png", "marker-icon-2x.png", "marker-shadow.png"):
        response = client.get(f"/static/vendor/leaflet@1.9.3/dist/images/{name}")
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"


def test_the_icon_rotation_stylesheet_rotates(page: _Links, client: TestClient) -> None:
    (rotate,) = [url for url in page.stylesheets if "awesome.rotate" in url]
    css = client.get(rotate).text
    assert ".fa-rotate-45{transform:rotate(45deg)}" in css
    assert ".fa-rotate--90{transform:rotate(-90deg)}" in css


def test_head_is_answered_and_other_methods_refused(client: TestClient) -> None:
    url = "/static/vendor/jquery@3.7.1/dist/jquery.min.js"
    head = client.head(url)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) > 80_000
    post = client.post(url)
    assert post.status_code == 405 and post.headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    "path",
    [
        "/static/vendor/leaflet@1.9.4/dist/leaflet.js",  # not the pinned version
        "/static/vendor/leaflet/dist/leaflet.js",  # no version
        "/static/vendor/@popperjs/core@2.11.8/dist/umd/popper.min.js",  # installed, not pinned
        "/static/vendor/leaflet@1.9.3/package.json",  # not a web asset
        "/static/vendor/leaflet@1.9.3/dist/",
        "/static/vendor/leaflet@1.9.3/dist/nothing.js",
        "/static/folium/0.0.1/leaflet_heat.min.js",
        f"/static/folium/{FOLIUM_VERSION}/__init__.py",
    ],
)
def test_only_the_pinned_packages_files_are_served(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404


TRAVERSALS = [
    "/static/vendor/../../etc/passwd",
    "/static/vendor/leaflet@1.9.3/../../../../../etc/passwd",
    "/static/vendor/leaflet@1.9.3/dist/../../jquery@3.7.1/dist/jquery.min.js",
    "/static/vendor/leaflet@1.9.3//etc/passwd.js",
    "/static/vendor/leaflet@1.9.3/dist/./leaflet.js",
    "/static/vendor/leaflet@1.9.3/..\\..\\..\\etc\\passwd.css",
    "/static/folium/../../../../../etc/passwd",
    f"/static/folium/{FOLIUM_VERSION}/../folium.py",
    "/static/vendor/leaflet@1.9.3/dist/leaflet.js\x00.css",
]


async def _raw_get(app: FastAPI, path: str) -> int:
    """Send ``path`` to ``app`` exactly as a server would, with no client normalising it."""
    statuses: list[int] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("utf-8", "surrogateescape"),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 1234),
    }
    await app(scope, receive, send)
    return statuses[0]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_path_traversal_is_refused(client: TestClient, path: str) -> None:
    assert isinstance(client.app, FastAPI)
    # A loop of its own in a thread: Playwright's sync API may hold this thread's loop.
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(asyncio.run, _raw_get(client.app, path)).result() == 404


@pytest.mark.parametrize(
    "path",
    [
        "/static/vendor/leaflet@1.9.3/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/static/vendor/leaflet@1.9.3/%2E%2E%2F%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
        "/static/vendor/leaflet@1.9.3/..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/static/vendor/leaflet@1.9.3/dist/%2e%2e/%2e%2e/jquery@3.7.1/dist/jquery.min.js",
        "/static/vendor/leaflet@1.9.3/%252e%252e/%252e%252e/etc/passwd",
        "/static/vendor/leaflet@1.9.3/..%5c..%5c..%5cetc%5cpasswd",
        "/static/vendor/leaflet@1.9.3/dist/leaflet.js%00.css",
        f"/static/folium/{FOLIUM_VERSION}/%2e%2e/folium.py",
    ],
)
def test_encoded_path_traversal_is_refused(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_a_symlink_out_of_a_package_is_not_followed(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (tmp_path / "secret.js").write_text("secret")
    (package / "inside.js").write_text("ok")
    (package / "escape.js").symlink_to(tmp_path / "secret.js")
    app = FastAPI()
    app.mount("/static/vendor", AssetFiles({"pkg@1.0.0": package}, {}))
    with TestClient(app) as test_client:
        assert test_client.get("/static/vendor/pkg@1.0.0/inside.js").text == "ok"
        assert test_client.get("/static/vendor/pkg@1.0.0/escape.js").status_code == 404


def test_other_mounts_under_static_are_left_alone(tmp_path: Path) -> None:
    (tmp_path / "page.css").write_text("body{}")
    app = FastAPI()
    mount_assets(app)
    app.mount("/static/app", StaticFiles(directory=tmp_path), name="app-static")
    with TestClient(app) as test_client:
        assert test_client.get("/static/app/page.css").text == "body{}"


def test_an_element_with_no_local_copy_fails_and_changes_nothing() -> None:
    m = _dispatcher_map()
    plugins.Fullscreen().add_to(m)
    with pytest.raises(UnknownAssetError, match=r"Fullscreen .*Control\.FullScreen"):
        localise_assets(m)
    assert m.default_js == folium.Map.default_js
    assert all(url.startswith("https://") for _, url in m.default_js)


def test_folium_s_own_lists_are_not_touched() -> None:
    before = [list(folium.Map.default_js), list(plugins.MarkerCluster.default_css)]
    m = _dispatcher_map()
    localise_assets(m)
    localise_assets(m)  # again: already local, left as it is
    assert [folium.Map.default_js, plugins.MarkerCluster.default_css] == before
    assert all(url.startswith("/static/") for _, url in m.default_js)


def test_links_an_earlier_render_left_in_the_header_are_rewritten() -> None:
    m = _dispatcher_map()
    m.get_root().render()
    localise_assets(m, base_url="/intranet/static/")
    links = _Links()
    links.feed(m.get_root().render())
    assert all(url.startswith("/intranet/static/") for url in links.scripts + links.stylesheets)


def test_every_table_entry_is_pinned_and_installed() -> None:
    directories = check_installed()
    packages = json.loads((ASSETS_DIR / "package.json").read_text())["dependencies"]
    assert set(directories) == set(packages)
    assert all(not version.startswith(("^", "~", ">")) for version in packages.values())
    used = {asset.package for asset in FOLIUM_ASSETS.values() if asset.source == "npm"}
    assert used == set(packages)


def test_a_missing_install_says_to_run_make_deps(tmp_path: Path) -> None:
    for name in ("package.json", "package-lock.json"):
        shutil.copy(ASSETS_DIR / name, tmp_path / name)
    with pytest.raises(AssetsNotInstalledError, match="run `make deps`"):
        mount_assets(FastAPI(), assets_dir=tmp_path)


def test_an_install_at_another_version_says_to_run_make_deps(tmp_path: Path) -> None:
    for name in ("package.json", "package-lock.json"):
        shutil.copy(ASSETS_DIR / name, tmp_path / name)
    shutil.copytree(ASSETS_DIR / "node_modules", tmp_path / "node_modules", symlinks=True)
    manifest = tmp_path / "node_modules" / "leaflet" / "package.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "version": "1.9.4"}))
    with pytest.raises(AssetsNotInstalledError, match=r"1\.9\.4 .*pins 1\.9\.3: run `make deps`"):
        mount_assets(FastAPI(), assets_dir=tmp_path)
