"""scikit-learn's English stop-word list (the Glasgow IR group's), read from the installed scikit-learn without
importing the package: `import sklearn` imports scipy.stats and more (over a CPU-second), which every bulk-build
worker process would pay for a list of 318 words. The list is the one `sklearn.feature_extraction.text` exports
(tests/agent/test_stop_words.py compares them); modules that fit scikit-learn's vectorizers import it themselves."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def _sklearn_stop_words() -> frozenset[str]:
    spec = importlib.util.find_spec("sklearn")  # finds the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("scikit-learn is not installed (pip install scikit-learn)")
    source = Path(next(iter(spec.submodule_search_locations)), "feature_extraction", "_stop_words.py")
    loader = importlib.util.spec_from_file_location("enrich._sklearn_stop_words", source)  # a module of one list
    assert loader is not None and loader.loader is not None
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    return frozenset(module.ENGLISH_STOP_WORDS)


ENGLISH_STOP_WORDS: frozenset[str] = _sklearn_stop_words()
