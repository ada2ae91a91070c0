"""The data that flows: datasets and splits as arrays, file formats, finding files, protocols' rules."""
