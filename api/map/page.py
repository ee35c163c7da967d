"""The dispatcher's map, built with folium: Leaflet layers that refresh from ``/v1/map/...``.

folium lays out the page (the map, tiles, the live layers, clustering, heat, the layer control);
``/static/map/map.js`` holds the behaviour each layer calls by name (``GD.*``): how a feature
looks, what its popup says, how a view's filters and box become a layer request. All assets are
served by the service itself (``api/map/assets.py``), so the page works with no internet.
"""

import json
from html import escape
from typing import Any

import folium
from folium import JsCode
from folium.plugins import HeatMap, MarkerCluster, Realtime
from jinja2 import Template

from api.config import Settings
from api.map.assets import localise_assets
from api.map.schemas import MapQuery
from api.pages.router import FAVICON

DEFAULT_CENTRE = (31.2304, 121.4737)  # (lat, lon): folium's order; People's Square, Shanghai
LAYERS = ("regions", "routes", "tickets", "unassigned", "technicians")
MAP_JS = "/static/map/map.js"
MAP_CSS = "/static/map/map.css"


def _live_layer(name: str, interval_ms: int, *, label: str, **options: Any) -> Realtime:
    """Return a layer that asks ``/v1/map/<name>`` for the view every ``interval_ms``."""
    layer = Realtime(
        JsCode(f"GD.source('{name}')"),
        interval=interval_ms,
        get_feature_id=JsCode("GD.featureId"),
        update_feature=JsCode("GD.updateFeature"),
        remove_missing=True,
        **options,
    )
    layer.layer_name = label
    return layer


def _chrome(
    query: MapQuery, *, lang: str, csrf_token: str, settings: Settings, wiring: dict[str, Any]
) -> str:
    """Return the page's own HTML: the top bar, filters, KPI panel, legend and config."""
    config = {
        "wiring": wiring,
        "day": query.day.isoformat(),
        "region": query.region_id,
        "technician": query.technician_id,
        "refresh_ms": int(settings.map_refresh_s * 1000),
        "lang": lang,
        "tiles_crs": settings.map_tiles_crs,
    }
    zh = lang == "zh"
    html: str = Template(
        """
<header class="gd-bar">
  <a class="gd-brand" href="/map">geodispatch</a>
  <form id="gd-filters" class="gd-filters" onsubmit="return false">
    <label>{{ t_day }} <input type="date" name="day" value="{{ day }}" required></label>
    <label>{{ t_region }} <select name="region">
      <option value="">{{ t_all }}</option></select></label>
    <label>{{ t_tech }} <input type="text" name="technician" value="{{ tech }}" size="8"
      placeholder="T-…" autocomplete="off"></label>
  </form>
  <span id="gd-status" class="gd-status" role="status"></span>
  <a href="?lang={{ other_lang }}" class="gd-lang"
     data-lang="{{ other_lang }}">{{ other_label }}</a>
  <form method="post" action="/logout" class="gd-logout">
    <input type="hidden" name="csrf_token" value="{{ csrf }}">
    <button type="submit">{{ t_out }}</button>
  </form>
</header>
<section id="gd-kpis" class="gd-panel gd-kpis" aria-label="KPIs"></section>
<section id="gd-legend" class="gd-panel gd-legend" aria-label="legend"></section>
<script type="application/json" id="gd-config">{{ config }}</script>
"""
    ).render(
        day=query.day.isoformat(),
        tech=query.technician_id or "",
        csrf=csrf_token,
        config=json.dumps(config).replace("</", "<\\/"),
        other_lang="en" if zh else "zh",
        other_label="English" if zh else "中文",
        t_day="日期" if zh else "Day",
        t_region="区域" if zh else "Region",
        t_all="全部" if zh else "all",
        t_tech="技师" if zh else "Technician",
        t_out="退出" if zh else "Sign out",
    )
    return html


def build_map_page(query: MapQuery, *, settings: Settings, lang: str, csrf_token: str) -> str:
    """Return the map page's HTML for the view ``query``."""
    tiles = None if settings.map_tiles == "none" else settings.map_tiles
    fmap = folium.Map(
        location=DEFAULT_CENTRE,
        zoom_start=10,
        maxZoom=19,  # folium sets none without tiles, and clustering needs one
        tiles=None,
        control_scale=True,
        zoom_control=True,
    )
    # Only Leaflet itself: the page uses no folium icons, so jQuery, Bootstrap, Font Awesome and
    # the awesome-markers files (a third of a megabyte) would load for nothing.
    fmap.default_js = [(name, url) for name, url in fmap.default_js if name == "leaflet"]
    fmap.default_css = [(name, url) for name, url in fmap.default_css if name == "leaflet_css"]
    if tiles is not None:
        folium.TileLayer(
            tiles=tiles, attr=settings.map_tiles_attribution, name="base map", control=False
        ).add_to(fmap)
    interval = int(settings.map_refresh_s * 1000)
    zh = lang == "zh"
    cluster = MarkerCluster(  # type: ignore[no-untyped-call]
        name="工单" if zh else "Tickets",
        options={"disableClusteringAtZoom": 15, "chunkedLoading": True, "maxClusterRadius": 50},
    ).add_to(fmap)
    layers = {
        "regions": _live_layer(
            "regions", interval * 6, label="区域" if zh else "Regions",
            style=JsCode("GD.regionStyle"), on_each_feature=JsCode("GD.onRegion"),
        ),
        "routes": _live_layer(
            "routes", interval, label="路线" if zh else "Routes",
            style=JsCode("GD.routeStyle"), point_to_layer=JsCode("GD.stopMarker"),
            on_each_feature=JsCode("GD.onRouteFeature"),
        ),
        "tickets": _live_layer(
            "tickets", interval, label="tickets", container=cluster,
            point_to_layer=JsCode("GD.ticketMarker"), on_each_feature=JsCode("GD.onTicket"),
        ),
        "unassigned": _live_layer(
            "unassigned", interval, label="未分配" if zh else "Unassigned",
            point_to_layer=JsCode("GD.unassignedMarker"), on_each_feature=JsCode("GD.onUnassigned"),
        ),
        "technicians": _live_layer(
            "technicians", interval, label="技师" if zh else "Technicians",
            point_to_layer=JsCode("GD.technicianMarker"), on_each_feature=JsCode("GD.onTechnician"),
        ),
    }  # fmt: skip
    layers["tickets"].control = False  # the cluster stands for the tickets in the layer control
    for layer in layers.values():
        layer.add_to(fmap)
    heat_name = "需求热力" if zh else "Demand heat"
    heat = HeatMap([], name=heat_name, radius=18, blur=22, show=False)  # type: ignore[no-untyped-call]
    heat.add_to(fmap)
    folium.LayerControl(collapsed=True).add_to(fmap)
    root = fmap.get_root()
    assert isinstance(root, folium.Figure)
    root.header.add_child(folium.CssLink(MAP_CSS))
    root.header.add_child(folium.JavascriptLink(MAP_JS))
    names = {name: layer.get_name() for name, layer in layers.items()}
    wiring: dict[str, Any] = {
        "map": fmap.get_name(),
        "heat": heat.get_name(),
        "cluster": cluster.get_name(),
        "layers": names,
    }
    chrome = _chrome(query, lang=lang, csrf_token=csrf_token, settings=settings, wiring=wiring)
    root.html.add_child(folium.Element(chrome))
    # folium writes this before the layers' scripts: start once they have all run.
    root.script.add_child(folium.Element('addEventListener("DOMContentLoaded", GD.start);'))
    localise_assets(root)
    html: str = root.render()
    title = "调度地图 · geodispatch" if zh else "Dispatch map · geodispatch"
    head = f'<head>\n<title>{escape(title)}</title>\n<link rel="icon" href="{FAVICON}">'
    return html.replace("<head>", head, 1)
