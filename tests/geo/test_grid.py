import numpy as np

from shapely.geometry import box

from geo.grid import OUTSIDE, CellGrid


def test_cells_wholly_inside_one_region_need_no_exact_test() -> None:
    grid = CellGrid(np.array([box(0.0, 0.0, 4.0, 4.0)], dtype=object), target_cells=16)
    assert grid.cell_count == 16
    assert grid.boundary_share == 0.0
    assert grid.nbytes > 0


def test_only_cells_crossed_by_a_shared_edge_need_an_exact_test() -> None:
    # Cells are 1 x 1; the edge x = 1.5 crosses the second column only.
    geometries = np.array([box(0.0, 0.0, 1.5, 4.0), box(1.5, 0.0, 4.0, 4.0)], dtype=object)
    grid = CellGrid(geometries, target_cells=16)
    assert grid.boundary_share == 0.25
    answers = grid.locate(np.array([0.5, 1.2, 1.5, 1.8, 3.9]), np.full(5, 2.0))
    assert answers.tolist() == [0, 0, 0, 1, 1]


def test_points_on_the_outer_bounds_are_inside_and_beyond_are_outside() -> None:
    geometries = np.array([box(0.0, 0.0, 1.0, 1.0)], dtype=object)
    grid = CellGrid(geometries, target_cells=16)
    lons = np.array([1.0, 0.0, 1.0, 1.0 + 1e-12, 0.5, -1e-12])
    lats = np.array([1.0, 0.0, 0.0, 0.5, 1.0, 0.5])
    assert grid.locate(lons, lats).tolist() == [0, 0, 0, OUTSIDE, 0, OUTSIDE]


def test_a_hole_answers_the_region_below_it() -> None:
    frame = box(0.0, 0.0, 3.0, 3.0)
    donut = frame.difference(box(1.0, 1.0, 2.0, 2.0))
    geometries = np.array([donut, frame.buffer(1.0)], dtype=object)  # donut more specific
    grid = CellGrid(geometries, target_cells=900)
    answers = grid.locate(np.array([1.5, 0.5, 3.5, 5.0]), np.array([1.5, 0.5, 3.5, 5.0]))
    assert answers.tolist() == [1, 0, 1, OUTSIDE]
