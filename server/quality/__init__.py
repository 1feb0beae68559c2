"""Data quality in the loop: near-duplicate groups and eval leakage, label-error review, annotator
quality, and the dataset card."""
