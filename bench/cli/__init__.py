"""The command line: ``python -m bench COMMAND``, one module per command beside the parser."""
