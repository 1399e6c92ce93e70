"""The wiki: pages and their gate, page text, markdown, the git repository's owner, time
travel."""
