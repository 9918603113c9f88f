"""Readers and featurisers of the fine-tuning benchmarks: GLUE, CoNLL-2003,
SQuAD 1.1/2.0 and multiple choice (SWAG-style jsonl, PIQA)."""
