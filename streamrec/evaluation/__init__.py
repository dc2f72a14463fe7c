"""Offline evaluation: metrics, baselines, the time-split protocols and the reports."""
