"""A uniform grid that answers most point-in-region queries by an array lookup.

A plain STRtree query tests every point against whole district polygons of up to a few thousand
vertices. Most cells of a fine grid, however, lie wholly inside one district or wholly outside
every region, so the answer for every point in such a cell is known in advance. The grid stores
that answer; only points in *boundary cells* (cells crossed by a region edge that matters) go to
the exact test, and only against the few regions that can change the answer there.

The grid is exact. A cell is answered by lookup only if the most specific region meeting the
(slightly enlarged) closed cell covers it entirely, in which case no point of the cell can be in a
more specific region. The enlargement absorbs the rounding of the cell-index arithmetic, so a
point on a cell edge gets the same answer from either neighbour, and a point on a region edge is
inside because the exact test is ``intersects`` (boundary included).
"""

import math

import numpy as np
from numpy.typing import NDArray

import shapely

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

OUTSIDE = -1
_BOUNDARY = -2
# Cells are enlarged by this fraction of their size before classification (see module doc).
_CELL_MARGIN = 1e-6


class CellGrid:
    """Exact point-in-region lookup over geometries given in specificity order.

    Parameters
    ----------
    geometries
        Polygonal geometries, most specific first; the answer for a point is the position of the
        first geometry that contains it (boundary included), or :data:`OUTSIDE`.
    target_cells
        Approximate number of grid cells; cells are square in degrees.
    """

    def __init__(self, geometries: NDArray[np.object_], target_cells: int) -> None:
        self._geometries = geometries
        shapely.prepare(geometries)
        if len(geometries) == 0:
            self._bounds = (0.0, 0.0, -1.0, -1.0)  # an empty box: every point is outside
            self._shape = (1, 1)
            self._cell_w = self._cell_h = 1.0
            self._cell_answer = np.full(1, OUTSIDE, dtype=np.int64)
            self._fallback = self._cell_answer
            self._candidate_start = np.zeros(2, dtype=np.int64)
            self._candidates = np.zeros(0, dtype=np.int64)
            return
        xmin, ymin, xmax, ymax = (float(v) for v in shapely.total_bounds(geometries))
        self._bounds = (xmin, ymin, xmax, ymax)
        cell_deg = math.sqrt(max((xmax - xmin) * (ymax - ymin), 1e-18) / target_cells)
        nx = max(1, math.ceil((xmax - xmin) / cell_deg))
        ny = max(1, math.ceil((ymax - ymin) / cell_deg))
        self._shape = (ny, nx)
        self._cell_w, self._cell_h = (xmax - xmin) / nx or 1.0, (ymax - ymin) / ny or 1.0
        self._classify_cells()

    def __setstate__(self, state: dict[str, object]) -> None:
        # Prepared geometries are not pickled; prepare them again in the receiving process.
        self.__dict__.update(state)
        shapely.prepare(self._geometries)

    @property
    def cell_count(self) -> int:
        """Number of cells in the grid."""
        return self._shape[0] * self._shape[1]

    @property
    def nbytes(self) -> int:
        """Memory held by the lookup arrays, in bytes."""
        arrays = (self._cell_answer, self._fallback, self._candidate_start, self._candidates)
        return sum(a.nbytes for a in arrays)

    @property
    def boundary_share(self) -> float:
        """Share of cells that need an exact test (a measure of how well the grid fits)."""
        return float(np.mean(self._cell_answer == _BOUNDARY))

    def _cell_boxes(self) -> NDArray[np.object_]:
        ny, nx = self._shape
        xmin, ymin, xmax, ymax = self._bounds
        margin_x, margin_y = self._cell_w * _CELL_MARGIN, self._cell_h * _CELL_MARGIN
        left = xmin + np.arange(nx) * self._cell_w
        bottom = ymin + np.arange(ny) * self._cell_h
        lefts, bottoms = np.meshgrid(left, bottom)  # row-major: cell = row * nx + column
        # No point beyond the bounds reaches a cell, so the margin stops at the bounds.
        boxes: NDArray[np.object_] = shapely.box(
            np.maximum(lefts.ravel() - margin_x, xmin),
            np.maximum(bottoms.ravel() - margin_y, ymin),
            np.minimum(lefts.ravel() + self._cell_w + margin_x, xmax),
            np.minimum(bottoms.ravel() + self._cell_h + margin_y, ymax),
        )
        return boxes

    def _classify_cells(self) -> None:
        """Fill the per-cell answer, fallback and candidate lists (see the module doc)."""
        boxes = self._cell_boxes()
        tree = shapely.STRtree(boxes)
        n_regions, n_cells = len(self._geometries), len(boxes)
        # query(geometries, ...) evaluates the predicate with the prepared region geometry.
        meet_region, meet_cell = tree.query(self._geometries, predicate="intersects")
        cover_region, cover_cell = tree.query(self._geometries, predicate="covers")
        fallback = np.full(n_cells, n_regions, dtype=np.int64)
        np.minimum.at(fallback, cover_cell, cover_region)
        first_meeting = np.full(n_cells, n_regions, dtype=np.int64)
        np.minimum.at(first_meeting, meet_cell, meet_region)
        fallback[fallback == n_regions] = OUTSIDE
        is_constant = first_meeting >= np.where(fallback == OUTSIDE, n_regions, fallback)
        self._cell_answer = np.where(is_constant, fallback, _BOUNDARY)
        self._fallback = fallback
        # Candidates of a boundary cell: regions meeting it that are more specific than its
        # fallback; less specific ones can never win there.
        limit = np.where(fallback == OUTSIDE, n_regions, fallback)[meet_cell]
        keep = meet_region < limit
        cells, regions = meet_cell[keep], meet_region[keep]
        order = np.lexsort((regions, cells))
        self._candidates = regions[order]
        counts = np.bincount(cells, minlength=n_cells)
        self._candidate_start = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)

    def locate(self, lons: FloatArray, lats: FloatArray) -> IntArray:
        """Return the position of the most specific geometry containing each point, or -1."""
        xmin, ymin, xmax, ymax = self._bounds
        ny, nx = self._shape
        is_in_box = (lons >= xmin) & (lons <= xmax) & (lats >= ymin) & (lats <= ymax)
        column = np.clip(((lons - xmin) / self._cell_w).astype(np.int64), 0, nx - 1)
        row = np.clip(((lats - ymin) / self._cell_h).astype(np.int64), 0, ny - 1)
        cell = row * nx + column
        answer = np.where(is_in_box, self._cell_answer[cell], OUTSIDE)
        boundary = np.flatnonzero(answer == _BOUNDARY)
        if len(boundary):
            answer[boundary] = self._exact(lons[boundary], lats[boundary], cell[boundary])
        return answer

    def _exact(self, lons: FloatArray, lats: FloatArray, cells: IntArray) -> IntArray:
        """Resolve points of boundary cells against their cells' candidate regions."""
        answer = self._fallback[cells].copy()
        starts = self._candidate_start[cells]
        counts = self._candidate_start[cells + 1] - starts
        point = np.repeat(np.arange(len(cells)), counts)
        first_pair = np.repeat(np.cumsum(counts) - counts, counts)
        region = self._candidates[np.repeat(starts, counts) + np.arange(len(point)) - first_pair]
        order = np.argsort(region, kind="stable")
        point, region = point[order], region[order]
        splits = np.flatnonzero(np.diff(region)) + 1
        # Least specific first, so that a more specific hit overwrites it.
        for chunk in reversed(np.split(np.arange(len(region)), splits)):
            if len(chunk) == 0:
                continue
            members = point[chunk]
            geometry = self._geometries[region[chunk[0]]]
            is_hit = shapely.intersects_xy(geometry, lons[members], lats[members])
            answer[members[is_hit]] = region[chunk[0]]
        return answer
