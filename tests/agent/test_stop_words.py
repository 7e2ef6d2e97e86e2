import sys

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS as SKLEARN_STOP_WORDS

from enrich.agent.stop_words import ENGLISH_STOP_WORDS


def test_the_list_is_scikit_learns():
    assert ENGLISH_STOP_WORDS == SKLEARN_STOP_WORDS
    assert isinstance(ENGLISH_STOP_WORDS, frozenset)


def test_reading_it_leaves_the_sklearn_package_unimported(tmp_path):
    import subprocess

    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, enrich.agent.stop_words as s; print(len(s.ENGLISH_STOP_WORDS), 'sklearn' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == ["318", "False"]
