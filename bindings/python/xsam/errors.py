"""Exceptions: one class per xsam_status, each carrying the library's own message.

Every class derives from `xsam.Error`; where a built-in exception means the same thing it is a base too
(`InvalidArgumentError` is a `ValueError`, `InputOutputError` an `OSError`, `OutOfMemoryError` a
`MemoryError`), so generic handlers keep working.
"""
from . import _lib


class Error(Exception):
    """A failed xsam call. `status` is the xsam_status value, `status_name` its name ("io", ...), and
    `message` the library's message (it names the file, tensor, field or argument at fault)."""

    status = None
    status_name = "unknown"

    def __init__(self, message, status=None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
            self.status_name = _lib.STATUS_NAMES.get(status, "unknown")

    def __str__(self):
        return self.message


class InvalidArgumentError(Error, ValueError):
    """A NULL or out-of-range argument, a bad visual ref, a task that does not fit its inputs."""
    status, status_name = 1, "invalid_argument"


class InputOutputError(Error, OSError):
    """A file is missing or unreadable."""
    status, status_name = 2, "io"

    def __str__(self):  # OSError's own __str__ would print its args tuple
        return self.message


class FormatError(Error):
    """A file is corrupt or malformed (safetensors, config, image)."""
    status, status_name = 3, "format"


class ModelError(Error):
    """The weights do not match the config (missing, unexpected or mis-shaped tensors)."""
    status, status_name = 4, "model"


class UnsupportedError(Error):
    """A valid request this build cannot serve (e.g. CUDA on a CPU-only machine)."""
    status, status_name = 5, "unsupported"


class LimitError(Error):
    """An input exceeds a configured limit (pixels, prompt tokens, refs)."""
    status, status_name = 6, "limit"


class CancelledError(Error):
    """The token callback asked to stop (returned False)."""
    status, status_name = 7, "cancelled"


class OutOfMemoryError(Error, MemoryError):
    status, status_name = 8, "out_of_memory"


class InternalError(Error):
    """A bug in xsam (or libtorch); please report it with the message."""
    status, status_name = 9, "internal"


_BY_STATUS = {cls.status: cls for cls in (InvalidArgumentError, InputOutputError, FormatError, ModelError,
                                          UnsupportedError, LimitError, CancelledError, OutOfMemoryError,
                                          InternalError)}


def error_for(status, message=None):
    """The exception for a failed status; the message defaults to xsam_last_error() of this thread."""
    if message is None:
        raw = _lib.lib().xsam_last_error()
        message = raw.decode("utf-8", "replace") if raw else ""
    if not message:
        message = f"xsam call failed with status {_lib.STATUS_NAMES.get(status, status)}"
    cls = _BY_STATUS.get(status)
    if cls is None:
        return Error(message, status)
    return cls(message)


def check(status):
    """Raises the matching exception unless status is XSAM_OK. Call it right after the C call: the
    message is thread-local and the next xsam call on this thread replaces it."""
    if status != _lib.OK:
        raise error_for(status)
