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


def test_a_bulk_build_worker_imports_no_scikit_learn():
    """What a worker of `enrich run --batch --processes N` imports to run every step (scikit-learn costs a process
    about a CPU-second to import; the taxonomy's fit and the stop words do without it)."""
    import subprocess

    code = (
        "import sys, pkgutil, importlib, enrich.agent.steps as steps; import enrich.agent.batch.build_pipeline; "
        "[importlib.import_module('enrich.agent.steps.' + m.name) for m in pkgutil.iter_modules(steps.__path__)]; "
        "from enrich.agent.taxonomy import load_taxonomy; load_taxonomy(); print('sklearn' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False"]
