"""Derive the demo city in ``data/`` from the public boundaries and places in ``../shared/data``.

Writes ``regions.geojson`` (2 cities, 25 districts with payout coefficients, 3 overlapping zones)
and ``places.geojson`` (real metro stations and GeoNames places, used as customer and technician
locations by the demo generator). Deterministic: run it again and the files are identical.

Usage: ``python data/prepare.py [--shared ../shared/data]``
"""

import argparse
import json
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import mapping, shape

HERE = Path(__file__).resolve().parent
PRECISION = 6  # decimal places of a degree, about 0.1 m, as the source

# Coefficients from four indicators, each an index with the city mean at 1.00: labour cost,
# traffic (minutes lost per trip), parking cost and the share of walk-up buildings (stairs with
# tools and parts).  coefficient = 0.4 * wage + 0.25 * traffic + 0.2 * parking + 0.15 * walk_up,
# rounded to 0.05.  Figures are illustrative, set by hand from public city statistics tiers.
INDICATOR_WEIGHTS = {"wage": 0.40, "traffic": 0.25, "parking": 0.20, "walk_up": 0.15}
DISTRICT_INDICATORS: dict[str, tuple[float, float, float, float]] = {
    # adcode: (wage, traffic, parking, walk_up)
    "310101": (1.30, 1.45, 1.60, 1.35),  # Huangpu
    "310104": (1.25, 1.35, 1.40, 1.25),  # Xuhui
    "310105": (1.20, 1.30, 1.35, 1.20),  # Changning
    "310106": (1.25, 1.40, 1.50, 1.30),  # Jing'an
    "310107": (1.10, 1.20, 1.15, 1.20),  # Putuo
    "310109": (1.10, 1.30, 1.30, 1.40),  # Hongkou
    "310110": (1.10, 1.20, 1.15, 1.25),  # Yangpu
    "310112": (1.05, 1.05, 1.00, 0.90),  # Minhang
    "310113": (1.00, 1.00, 0.90, 0.90),  # Baoshan
    "310114": (0.95, 0.90, 0.80, 0.80),  # Jiading
    "310115": (1.15, 1.10, 1.10, 0.95),  # Pudong (inner part; the outer part is a zone)
    "310116": (0.85, 0.80, 0.70, 0.80),  # Jinshan
    "310117": (0.95, 0.90, 0.80, 0.80),  # Songjiang
    "310118": (0.90, 0.85, 0.75, 0.80),  # Qingpu
    "310120": (0.85, 0.80, 0.70, 0.80),  # Fengxian
    "310151": (0.80, 0.70, 0.60, 0.85),  # Chongming
    "320505": (0.90, 0.85, 0.80, 0.85),  # Huqiu
    "320506": (0.90, 0.85, 0.80, 0.85),  # Wuzhong
    "320507": (0.85, 0.80, 0.75, 0.85),  # Xiangcheng
    "320508": (0.95, 1.10, 1.20, 1.30),  # Gusu (old town: narrow lanes, walk-ups)
    "320509": (0.85, 0.80, 0.70, 0.80),  # Wujiang
    "320581": (0.85, 0.80, 0.70, 0.80),  # Changshu
    "320582": (0.85, 0.75, 0.70, 0.80),  # Zhangjiagang
    "320583": (0.90, 0.85, 0.75, 0.80),  # Kunshan
    "320585": (0.85, 0.80, 0.70, 0.80),  # Taicang
}
CITY_NAMES = {"310000": ("上海市", "Shanghai"), "320500": ("苏州市", "Suzhou")}

# Hand-drawn approximations (WGS84 lon/lat); good to a few hundred metres, which is enough for a
# demo of overlapping fences.  The Outer Ring follows the S20 expressway.
OUTER_RING = [
    (121.400, 31.350), (121.500, 31.372), (121.580, 31.352), (121.620, 31.310),
    (121.648, 31.250), (121.640, 31.190), (121.600, 31.122), (121.530, 31.090),
    (121.450, 31.080), (121.380, 31.100), (121.330, 31.160), (121.320, 31.220),
    (121.330, 31.280), (121.360, 31.320),
]  # fmt: skip
SIP = [
    (120.665, 31.330), (120.690, 31.360), (120.760, 31.370), (120.810, 31.340),
    (120.810, 31.270), (120.760, 31.240), (120.680, 31.260),
]  # fmt: skip
HONGQIAO = [(121.295, 31.175), (121.345, 31.175), (121.345, 31.215), (121.295, 31.215)]

ZONES = [
    {
        "id": "zone-pudong-outer",
        "name_zh": "浦东外环外",
        "name_en": "Pudong, outside the Outer Ring",
        "parent_id": "310115",
        "priority": 20,
        "coefficient": "1.20",
        "reason": "long trips between sparse jobs beyond the S20 ring",
    },
    {
        "id": "zone-sip",
        "name_zh": "苏州工业园区",
        "name_en": "Suzhou Industrial Park",
        "parent_id": "320500",
        "priority": 20,
        "coefficient": "1.15",
        "reason": "gated industrial sites: security check-in and escort time",
    },
    {
        "id": "zone-hongqiao",
        "name_zh": "虹桥枢纽",
        "name_en": "Hongqiao transport hub",
        "parent_id": "310000",
        "priority": 30,
        "coefficient": "1.25",
        "reason": "airport and rail hub: restricted access and paid parking only",
    },
]


def coefficient(indicators: tuple[float, float, float, float]) -> str:
    """Weighted indicator sum rounded to 0.05, as a decimal string."""
    value = sum(w * x for w, x in zip(INDICATOR_WEIGHTS.values(), indicators, strict=True))
    return f"{round(value * 20) / 20:.2f}"


def feature(geometry: Any, **properties: Any) -> dict[str, Any]:
    """Build a GeoJSON feature whose id is the region id, rounded to ``PRECISION``."""
    rounded = shapely.set_precision(geometry, 10**-PRECISION)
    return {
        "type": "Feature",
        "id": properties["id"],
        "properties": properties,
        "geometry": mapping(shapely.normalize(rounded)),
    }


def build_regions(districts_fc: dict[str, Any]) -> dict[str, Any]:
    """Cities, districts and zones as one FeatureCollection in the Region property schema."""
    districts = {f["properties"]["adcode"]: f for f in districts_fc["features"]}
    shapes = {code: shape(f["geometry"]) for code, f in districts.items()}
    features = []
    for city, (name_zh, name_en) in CITY_NAMES.items():
        members = [
            shapes[c] for c, f in districts.items() if f["properties"]["city_adcode"] == city
        ]
        union = shapely.coverage_union_all(members)
        features.append(
            feature(union, id=city, name_zh=name_zh, name_en=name_en, level="city", priority=0)
        )
    for code, f in districts.items():
        props = f["properties"]
        indicators = DISTRICT_INDICATORS[code]
        features.append(
            feature(
                shapes[code],
                id=code,
                name_zh=props["name_zh"],
                name_en=props["name_en"],
                level="district",
                priority=10,
                parent_id=props["city_adcode"],
                coefficient=coefficient(indicators),
                indicators=dict(zip(INDICATOR_WEIGHTS, indicators, strict=True)),
                time_zone="Asia/Shanghai",
                team=f"team-{code}",
            )
        )
    suzhou = shapely.coverage_union_all(
        [shapes[c] for c, f in districts.items() if f["properties"]["city_adcode"] == "320500"]
    )
    zone_shapes = {
        "zone-pudong-outer": shapes["310115"].difference(shapely.Polygon(OUTER_RING)),
        "zone-sip": shapely.Polygon(SIP).intersection(suzhou),
        "zone-hongqiao": shapely.Polygon(HONGQIAO),
    }
    for zone in ZONES:
        geometry = zone_shapes[zone["id"]]
        features.append(
            feature(geometry, level="zone", time_zone="Asia/Shanghai", **zone)  # type: ignore[arg-type]
        )
    return {
        "type": "FeatureCollection",
        "metadata": {
            "derived_from": "shared/data/districts_shanghai_suzhou.geojson",
            "source": districts_fc["metadata"]["source"],
            "licence": districts_fc["metadata"]["licence"],
            "processing": (
                "cities are the coverage union of their districts; zones are hand-drawn "
                "approximations clipped to their parents; coefficients from weighted indicators"
            ),
        },
        "features": features,
    }


def build_places(stations_fc: dict[str, Any], geonames_fc: dict[str, Any]) -> dict[str, Any]:
    """Real points with their district, tagged by source, for the demo generator."""
    features = []
    for f in stations_fc["features"]:
        p = f["properties"]
        features.append(
            {
                "type": "Feature",
                "id": f["id"],
                "properties": {
                    "name": p["name_zh"],
                    "kind": "metro_station",
                    "district_id": p["district_adcode"],
                    "source": "OpenStreetMap (ODbL 1.0)",
                },
                "geometry": f["geometry"],
            }
        )
    for i, f in enumerate(geonames_fc["features"]):
        p = f["properties"]
        features.append(
            {
                "type": "Feature",
                "id": f"geonames-{i}",
                "properties": {
                    "name": p["name"],
                    "kind": "town",
                    "district_id": p["district_adcode"],
                    "source": "GeoNames (CC BY 4.0)",
                },
                "geometry": f["geometry"],
            }
        )
    return {
        "type": "FeatureCollection",
        "metadata": {
            "sources": [stations_fc["metadata"]["source"], geonames_fc["metadata"]["source"]],
            "licences": [stations_fc["metadata"]["licence"], geonames_fc["metadata"]["licence"]],
        },
        "features": features,
    }


def write(path: Path, data: dict[str, Any]) -> None:
    """Write compact, stable JSON (one feature per line keeps diffs readable)."""
    head = {k: v for k, v in data.items() if k != "features"}
    lines = [json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in data["features"]]
    body = json.dumps(head, ensure_ascii=False)[:-1]
    path.write_text(body + ', "features": [\n' + ",\n".join(lines) + "\n]}\n", encoding="utf-8")


def main() -> None:
    """Read the shared sources and write the derived demo files next to this script."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=HERE.parent.parent / "shared" / "data")
    args = parser.parse_args()

    def load(name: str) -> dict[str, Any]:
        return json.loads((args.shared / name).read_text(encoding="utf-8"))

    write(HERE / "regions.geojson", build_regions(load("districts_shanghai_suzhou.geojson")))
    write(
        HERE / "places.geojson",
        build_places(
            load("metro_stations_shanghai_osm.geojson"),
            load("places_geonames_shanghai_suzhou.geojson"),
        ),
    )


if __name__ == "__main__":
    main()
