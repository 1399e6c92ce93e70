"""Domain errors. The CLI turns them into `Error: ...` messages with exit status 1."""


class WikimemError(Exception):
    """A problem the user can act on; the message says what is wrong and what to do."""


class ProjectNotFound(WikimemError):
    """No registered project matches what the user asked for."""
