"""What an Accept header asks for: the summaries (CSV or JSON) and the statement (CSV,
HTML or PDF) choose their representation from it."""

from shared.negotiation import accept_quality


def test_each_type_keeps_its_highest_quality_in_the_order_first_named():
    assert list(accept_quality("text/HTML;q=0.5, application/pdf, text/html;q=0.9").items()) \
        == [("text/html", 0.9), ("application/pdf", 1.0)]


def test_a_malformed_or_missing_header_asks_for_nothing_acceptable():
    assert accept_quality("text/csv;q=high") == {"text/csv": 0.0}
    assert accept_quality(None) == {} and accept_quality(" , ") == {}
