"""What an operating-system error means, in a few words: the library's messages name the file
and say this after it. Below every other module (no import of the library), so that the
config, the data formats and the readers can all use it."""
from __future__ import annotations

import errno

__all__ = ["os_reason"]


def os_reason(err: OSError) -> str:
    """What an ``OSError`` means, in a few words (the caller names the file)."""
    if isinstance(err, PermissionError):
        return "permission denied"
    if err.errno == errno.ELOOP:
        return "symbolic-link loop (the link leads back to itself)"
    if isinstance(err, FileNotFoundError):
        return "not found"
    if isinstance(err, IsADirectoryError):
        return "is a folder, not a file"
    return err.strerror or str(err)
