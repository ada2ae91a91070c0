"""The one place that talks to MLflow, and the SQLite stores bench shares between processes."""
