"""Search: the Whoosh index, its documents, scoring and snippets."""
