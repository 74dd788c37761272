"""Classifiers: language identification, fastText recall, decontamination."""
