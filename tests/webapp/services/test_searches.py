"""Normalising and saving searches."""

import pytest

from webapp.services import searches


class TestNormalize:
    def test_whitespace_tags_and_booleans_have_one_spelling(self):
        params = searches.normalize(
            {
                "q": "  python   lists ",
                "tagged": "Python;pandas  numpy",
                "accepted": "yes",
            }
        )

        assert params == {
            "q": "python lists",
            "tagged": ["numpy", "pandas", "python"],
            "accepted": True,
        }

    def test_empty_values_are_dropped(self):
        assert searches.normalize(
            {"q": "x", "title": " ", "closed": "", "views": ""}
        ) == {"q": "x"}

    def test_same_search_has_the_same_key(self):
        first = searches.normalize({"q": "a  b", "tagged": "y;x"})
        second = searches.normalize({"tagged": "x y", "q": "a b"})

        assert searches.params_key(first) == searches.params_key(second)

    def test_dates_become_epoch_seconds_for_the_api(self):
        params = searches.normalize(
            {"q": "x", "fromdate": "2020-01-01", "todate": "2020-01-01"}
        )

        converted = searches.api_params(params)

        assert converted["fromdate"] == 1577836800
        assert converted["todate"] == 1577836800 + 86399

    @pytest.mark.parametrize(
        "raw, field",
        [
            ({}, "q"),
            ({"q": "x" * 501}, "q"),
            ({"q": "a\x00b"}, "q"),
            ({"nottagged": "java"}, "nottagged"),
            ({"tagged": "<script>"}, "tagged"),
            ({"q": "x", "fromdate": "2999-01-01"}, "fromdate"),
            ({"q": "x", "fromdate": "2001-01-01"}, "fromdate"),
            ({"q": "x", "todate": "31/12/2020"}, "todate"),
            ({"q": "x", "views": "1e3"}, "views"),
            ({"q": "x", "user": "0"}, "user"),
        ],
    )
    def test_bad_values_name_their_field(self, raw, field):
        with pytest.raises(searches.InvalidSearchError) as caught:
            searches.normalize(raw)

        assert caught.value.field == field


def test_describe_lists_filters_other_than_the_text():
    params = searches.normalize(
        {"q": "x", "tagged": "b a", "closed": "no", "answers": "2"}
    )

    assert searches.describe(params) == "Tagged: a, b; Closed: no; At least answers: 2"
