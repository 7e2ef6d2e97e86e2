"""Lines with their offsets: what every parser quotes from."""

from hypothesis import given, settings
from hypothesis import strategies as st

from enrich.agent.ingest.text import split_lines

# line breaks of every kind str.splitlines knows, and white space around words
TEXT = st.text(alphabet=st.sampled_from(list("ab \t\r\n\x0b\x0c\x1c\x85\u2028\u00e9")), max_size=60)


@given(TEXT)
@settings(max_examples=300)
def test_each_line_is_the_stripped_text_at_its_offsets(text):
    lines = split_lines(text)
    assert [ln.text for ln in lines] == [raw.strip() for raw in text.splitlines()]
    assert [ln.index for ln in lines] == list(range(len(lines)))
    pos = 0
    for ln, raw in zip(lines, text.splitlines(keepends=True)):
        assert text[ln.start : ln.end] == ln.text
        assert pos <= ln.start <= ln.end <= pos + len(raw)
        pos += len(raw)


def test_a_caller_may_change_its_list():
    text = "Name\n\nWork one\n"
    first = split_lines(text)
    first.pop()
    assert [ln.text for ln in split_lines(text)] == ["Name", "", "Work one"]
