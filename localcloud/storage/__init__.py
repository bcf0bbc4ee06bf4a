"""Azure Files data plane (path-style): shares, directories, files, ranges, SharedKey auth."""
