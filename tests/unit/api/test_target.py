"""ApiTarget: one spelling per API, one place per embedded sandbox, its ledger record."""

from __future__ import annotations

import pytest

from launcher.api.target import ApiTarget, normalise_url, record_label


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://API.Devin.ai/", "https://api.devin.ai"),
        ("https://api.devin.ai:443", "https://api.devin.ai"),
        ("http://127.0.0.1:80/", "http://127.0.0.1"),
        ("http://127.0.0.1:8787//", "http://127.0.0.1:8787"),
        ("https://host/base/?q=1#f", "https://host/base"),
        ("http://[::1]:9000/", "http://[::1]:9000"),
    ],
)
def test_a_url_has_one_spelling(url: str, expected: str) -> None:
    assert normalise_url(url) == expected
    assert ApiTarget(url).base_url == expected


def test_targets_are_the_same_place_when_url_generation_and_org_agree() -> None:
    real = ApiTarget("https://api.devin.ai/")
    assert real.same_place(ApiTarget("https://api.devin.ai:443"))
    assert not real.same_place(ApiTarget("https://api.devin.ai", "v3"))
    assert not real.same_place(ApiTarget("https://api.devin.ai", org="org-1"))
    assert ApiTarget("https://x", org="").org is None
    assert not real.same_place(ApiTarget("http://127.0.0.1:8787"))


def test_every_embedded_sandbox_is_one_place_and_never_a_real_api() -> None:
    a = ApiTarget("http://127.0.0.1:40001", sandbox=True)
    b = ApiTarget("http://127.0.0.1:40002", sandbox=True)
    assert a.same_place(b) and a.as_record() == b.as_record()
    assert not a.same_place(ApiTarget("http://127.0.0.1:40001"))
    assert a.label == "the embedded sandbox"


def test_the_record_is_equal_exactly_when_the_place_is() -> None:
    targets = [
        ApiTarget("https://api.devin.ai"),
        ApiTarget("https://api.devin.ai", "v3", org="org-1"),
        ApiTarget("http://127.0.0.1:1", sandbox=True),
        ApiTarget("http://127.0.0.1:1"),
    ]
    for a in targets:
        assert ApiTarget.from_record(a.as_record()) == a or a.sandbox
        for b in targets:
            assert (a.as_record() == b.as_record()) == a.same_place(b)


def test_a_record_this_launcher_cannot_read_is_named_as_such() -> None:
    newer = {**ApiTarget("https://api.devin.ai").as_record(), "v": 2}
    assert ApiTarget.from_record(newer) is None
    assert ApiTarget.from_record({"v": 1, "base_url": 3}) is None
    assert record_label(newer) == "an API recorded by a newer launcher"
    assert record_label(ApiTarget("https://api.devin.ai").as_record()) == (
        "https://api.devin.ai (v1)"
    )


def test_an_unknown_generation_is_refused() -> None:
    with pytest.raises(ValueError, match="generation"):
        ApiTarget("https://api.devin.ai", "v2")  # type: ignore[arg-type]
