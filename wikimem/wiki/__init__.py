"""The wiki: pages and their gate, markdown, the git repository's owner, time travel, purge."""
