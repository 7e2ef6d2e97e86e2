"""bench/eval_summaries.py: the figures it prints about applied summaries and the summary step's calls, on made-up
rows (measured apart from the step's own checks, so they can disagree with them)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from eval_summaries import call_figures, gold_people, sentence_figures  # noqa: E402

WORKS = [
    ("W1", "Parsing Tables with Graph Neural Networks", "We parse tables in scanned reports with graph networks."),
    (
        "W2",
        "Detecting Sarcasm in Product Reviews",
        "We detect sarcasm in online product reviews with contrastive training on an annotated corpus.",
    ),
]


def test_sentence_figures_count_fragments_near_duplicates_filler_and_copies():
    sentences = [
        {"text": "Jane Doe uses graph networks to read the tables in scanned reports.", "works": ["W1"]},
        {"text": "Jane Doe also uses graph networks to read tables in scanned reports.", "works": ["W1"]},
        {"text": "Her research has had a lasting impact on the field.", "works": ["W2"]},
        {"text": "Sarcasm in reviews.", "works": ["W2"]},
        {
            "text": "She detects sarcasm in online product reviews with contrastive learning on an annotated corpus.",
            "works": ["W2"],
        },
    ]
    fig = sentence_figures(sentences, WORKS, "Jane Doe")
    assert fig["near_duplicates"] == 1
    assert fig["filler"] == 1
    assert fig["fragments"] == 1
    assert fig["copied"] == 1
    assert fig["passing"] == 1  # only the first sentence passes the step's own checks today


def test_call_figures_count_failed_cut_off_and_timed_out_attempts_and_time_per_step():
    rows = [
        {"call_group": "a", "error": None, "latency_ms": 40_000, "tokens_in": 900, "tokens_out": 100},
        {"call_group": "b", "error": "validation: 1 validation error", "latency_ms": 50_000},
        {"call_group": "b", "error": None, "latency_ms": 30_000},
        {"call_group": "c", "error": "truncated: the answer hit max_tokens", "latency_ms": 60_000},
        {"call_group": "d", "error": "timeout: no response", "latency_ms": 301_000},
        {"call_group": "e", "error": None, "cached": 1, "latency_ms": 0},
    ]
    fig = call_figures(rows, budget=300.0)
    assert (fig["steps_asking"], fig["attempts"]) == (4, 5)
    assert fig["attempts_failed_validation"] == 1 and fig["attempts_failed_validation_share"] == 0.2
    assert fig["attempts_cut_off"] == 1 and fig["attempts_timed_out"] == 1
    assert fig["step_time_max_s"] == 301.0 and fig["steps_over_budget"] == 1


def test_single_person_listings_come_from_the_folders_gold_file(tmp_path):
    assert gold_people(tmp_path) == {}
    (tmp_path / "gold.jsonl").write_text(
        '{"case_id": "listing-1", "source_file": "listing-1.txt", "n_persons": 1}\n'
        '{"case_id": "listing-2", "source_file": "listing-2.txt", "n_persons": 3}\n'
    )
    assert gold_people(tmp_path) == {"listing-1.txt": 1, "listing-2.txt": 3}
