from hypothesis import example, given, settings
from hypothesis import strategies as st

from enrich.agent.llm.redact import redact, redact_obj, register_secret


def test_key_shapes_are_redacted():
    text = (
        "key sk-abcdefghij0123456789 and Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload "
        'and {"api_key": "plainvalue123"}'
    )
    out = redact(text)
    assert "abcdefghij0123456789" not in out and "eyJhbGci" not in out and "plainvalue123" not in out
    assert out.count("[REDACTED]") == 3 and out.startswith("key [REDACTED] and Authorization")


def test_registered_literal_secrets_and_nested_structures():
    register_secret("hunter2-local-token")
    assert redact_obj([{"content": "use hunter2-local-token"}]) == [{"content": "use [REDACTED]"}]
    assert redact("nothing secret here") == "nothing secret here"


_PIECES = [
    "sk-", "Sk-", "SK-", "bearer ", "BEARER\t", "Bearer", "beaRer  ", "api_key=", "API-KEY: ", "apikey\"", "x-api-key:",
    "X-API-KEY = '", "authorization:", "AUTHORIZATION=", "author", "ization", "ap", "i", "\u0131", "\u0130", "AP\u0130",
    "ap\u0131_key=", "author\u0130zation: ", "be", "arer ", "abcdefgh12", "XYZ/+=.:_-", "longvalue0123456789", " ", "\n",
    '"', "'", ",", "}", "Stra\u00dfe", "\u212a", "\u017f", "k", "e", "y", "a", "p", "text",
]  # fmt: skip


@settings(max_examples=1500, deadline=None)
@example(["ap\u0131_key=", "longvalue0123456789"])  # a dotless i matches "i" under (?i)
@example(["author\u0130zation: ", "longvalue0123456789"])  # a dotted capital I lower-cases to two characters
@example(["Bearer", " ", "abcdefgh12"])
@given(st.lists(st.sampled_from(_PIECES), max_size=12))
def test_the_no_secret_shortcut_gives_the_regular_expressions_answer(pieces):
    """redact skips its regular expression on a text without "sk-" and without the words it looks for: on texts
    made of key shapes, their parts and the letters that match them under (?i), the answer is the expression's."""
    from enrich.agent.llm.redact import _PATTERN, _replace

    text = "".join(pieces)
    assert redact(text) == _PATTERN.sub(_replace, text)


def test_only_i_has_other_letters_that_match_it_case_insensitively():
    """The shortcut lower-cases the text to find the expression's words; a letter the expression matches in
    another form (dotless and dotted i) must be looked for on its own (redact._may_match)."""
    import re
    import sys

    letters = set("bearer" + "api" + "authorization")
    rx = re.compile(f"(?i:[{''.join(sorted(letters))}])")
    odd = [chr(c) for c in range(sys.maxunicode + 1) if rx.fullmatch(chr(c)) and chr(c).lower() not in letters]
    assert odd == ["\u0130", "\u0131"]
