"""Customer ids to row numbers, and columns joined on by them without a copy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from winback.scan.keys import joined_on_ids


@pytest.mark.parametrize("ids", [["a", "b", "c", "d"], ["c", "a", "c2", "a2"]])
def test_columns_joined_on_ids_are_a_left_merge(ids: list[str]) -> None:
    # Whole numbers, strings, flags, floats and lists; some rows with no match (then
    # floats and objects, as the merge gives them) and, in the second case, every row
    # of the frame matched but not every row of ``other`` used.
    frame = pd.DataFrame({"customer_id": pd.array(ids, dtype="str"), "x": [1.0, 2, 3, 4]})
    other = pd.DataFrame(
        {
            "i": [1, 2, 3, 4],
            "s": pd.array(["p", None, "r", "t"], dtype="str"),
            "b": [True, False, True, False],
            "f": [0.5, 1.5, np.nan, 2.5],
            "l": pd.arrays.ArrowExtensionArray(pa.array([["u"], [], None, ["v", "w"]])),
        },
        index=pd.Index(["c", "a", "z", "c2" if "c2" in ids else "y"], name="customer_id"),
    )
    if "a2" in ids:
        other = pd.concat([other, other.iloc[[1]].set_axis(["a2"])])
    want = frame.merge(other, left_on="customer_id", right_index=True, how="left")
    got = joined_on_ids(frame, other)
    pd.testing.assert_frame_equal(got, want)
    assert list(frame.columns) == ["customer_id", "x"]  # the frame itself is left alone


def test_columns_of_a_frame_in_the_same_order_are_joined_as_they_are() -> None:
    # ``other`` row for row in ``frame``'s order: the same as the merge, and its columns
    # Arrow ones, held in pieces, are not copied (nor joined into one piece).
    ids = ["a", "b", "c"]
    frame = pd.DataFrame({"customer_id": pd.array(ids, dtype="str"), "x": [1.0, 2, 3]})
    pieces = pa.chunked_array([pa.array(["p", None]), pa.array(["r"])])
    other = pd.DataFrame(
        {"s": pd.arrays.ArrowStringArray(pieces), "f": [0.5, np.nan, 2.5]},
        index=pd.Index(ids, name="customer_id"),
    )
    got = joined_on_ids(frame, other)
    want = frame.merge(other, left_on="customer_id", right_index=True, how="left")
    pd.testing.assert_frame_equal(got, want)
    assert got["s"].array._pa_array.chunk(0).buffers()[2].address == (
        pieces.chunk(0).buffers()[2].address
    )
