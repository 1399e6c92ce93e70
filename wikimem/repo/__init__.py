"""Bootstrap from a repository: collect (git log, files at HEAD), extract, fold, render."""
