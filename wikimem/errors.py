"""Domain errors. The CLI turns them into `Error: ...` messages with exit status 1."""

import errno
import os


class WikimemError(Exception):
    """A problem the user can act on; the message says what is wrong and what to do."""


class ProjectNotFound(WikimemError):
    """No registered project matches what the user asked for."""


class SymlinkRefused(WikimemError, OSError):
    """A path in the wikimem home is a symbolic link, and wikimem never writes through one.

    Also an OSError (ELOOP), so that code which goes without a cache it cannot write goes
    without it here too.
    """

    def __init__(self, path: str | os.PathLike):
        path = os.fspath(path)
        super().__init__(
            errno.ELOOP,
            f"{path} is a symbolic link; wikimem does not write through links in its home. "
            f"Remove the link (rm {path}) and put back what belongs there; `wikimem doctor` "
            "lists every link.",
            path,
        )

    def __str__(self) -> str:
        return self.strerror
