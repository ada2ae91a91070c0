"""Reports from finished cells: leaderboards, per-class tables, statistics, figures, papers' figures."""
