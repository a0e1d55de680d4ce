"""The actuarial report's arithmetic, against the chainladder package on its real sample data.

The report computes the basic chain-ladder itself (importing chainladder costs about 13 s of CPU
per publication); here the two must agree on chainladder's RAA triangle, a published
reinsurance triangle. The report as a browser shows it is tested on a real pipeline run in
tests/test_end_to_end.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from transforms.publish.actuarial_report import _age_to_age, _triangle, chain_ladder


@pytest.fixture(scope="module")
def raa() -> np.ndarray:
    cl = pytest.importorskip("chainladder")
    return cl.load_sample("raa").values[0, 0].astype(float)  # origin x development


def test_age_to_age_factors_are_chainladders_volume_weighted_factors(raa: np.ndarray) -> None:
    import chainladder as cl

    want = cl.Development().fit(cl.load_sample("raa")).ldf_.values[0, 0, 0]
    assert _age_to_age(raa) == pytest.approx(list(want), rel=1e-9)


def test_chain_ladder_ultimate_is_chainladders(raa: np.ndarray) -> None:
    import chainladder as cl

    model = cl.Chainladder().fit(cl.load_sample("raa"))
    latest, ultimate = chain_ladder(raa)
    assert ultimate == pytest.approx(float(np.nansum(model.ultimate_.values)), rel=1e-9)
    assert latest == pytest.approx(float(np.nansum(
        cl.load_sample("raa").latest_diagonal.values)), rel=1e-9)
    assert ultimate > latest  # RAA is far from fully developed


def test_triangle_of_a_mart_sums_segments_and_leaves_the_future_empty() -> None:
    """Rows of claims_development (two component groups), as one currency's triangle."""
    rows = [(2024, 1, 100.0), (2024, 2, 150.0), (2024, 3, 160.0), (2025, 1, 120.0),
            (2025, 2, 170.0), (2026, 1, 90.0)]
    df = pd.DataFrame([{"origin_year": pd.Timestamp(f"{o}-01-01"), "development_year": d,
                        "cumulative_incurred": v / 2, "component_group": g}
                       for o, d, v in rows for g in ("engine", "electrical")])
    matrix, origins, devs = _triangle(df, "cumulative_incurred")
    assert origins == [2024, 2025, 2026] and devs == [1, 2, 3]
    assert matrix[0].tolist() == [100.0, 150.0, 160.0]
    assert np.isnan(matrix[2, 1]) and np.isnan(matrix[1, 2])
    factors = _age_to_age(matrix)
    assert factors == pytest.approx([(150 + 170) / (100 + 120), 160 / 150])
    latest, ultimate = chain_ladder(matrix)
    assert latest == 160 + 170 + 90
    assert ultimate == pytest.approx(160 + 170 * 160 / 150 + 90 * factors[0] * factors[1])
