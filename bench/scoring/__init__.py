"""Scoring a cell: metrics (declared once), threshold rules, open-set classification heads."""
