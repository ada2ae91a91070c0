"""bench: an open benchmark harness for image anomaly detection.

Plugin authors import from ``bench.api``; the command line is ``python -m bench``.
"""

__version__ = "0.1.0"
