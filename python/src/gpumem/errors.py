"""gpumem.Error and one subclass per gpumem_status."""

from . import _capi


class Error(Exception):
    """A gpumem_error: `.code` (the gpumem_status number), `.message`, and
    where the defect is: `.file`, `.offset` (byte), `.line`, `.column`
    (1-based). Positions the C library does not know are None."""

    status = "error"

    def __init__(self, message, code=None, file=None, offset=None, line=None, column=None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.file = file
        self.offset = offset
        self.line = line
        self.column = column

    def __str__(self):
        # The CLI's layout: FILE:LINE:COLUMN: MESSAGE, or FILE: byte N: MESSAGE.
        where = ""
        if self.file:
            where = self.file
            if self.line:
                where += ":%d:%d" % (self.line, self.column or 0)
            elif self.offset is not None:
                where += ": byte %d" % self.offset
            where += ": "
        return where + self.message


class UsageError(Error, ValueError):
    """A setting or argument is invalid (GPUMEM_ERR_USAGE)."""


class ReadError(Error, OSError):
    """A file could not be opened or read (GPUMEM_ERR_IO)."""

    # OSError.__init__ would read (errno, strerror) from two arguments.
    def __init__(self, message, **where):
        Error.__init__(self, message, **where)


class ParseError(Error, ValueError):
    """Malformed input syntax: JSON, a binary header (GPUMEM_ERR_PARSE)."""


class InvalidError(Error, ValueError):
    """Well-formed input with impossible values (GPUMEM_ERR_INVALID)."""


class UnsupportedError(Error):
    """Valid input that gpumem cannot model yet (GPUMEM_ERR_UNSUPPORTED)."""


class NotFoundError(Error, LookupError):
    """Unknown model, GPU or dtype name (GPUMEM_ERR_NOT_FOUND); the message
    carries the "did you mean" list."""


class SizeOverflowError(Error, OverflowError):
    """A size does not fit in 64 bits (GPUMEM_ERR_OVERFLOW)."""


class OutOfMemoryError(Error, MemoryError):
    """Memory allocation failed in the C library (GPUMEM_ERR_NOMEM)."""


BY_CODE = {
    _capi.ERR_USAGE: UsageError,
    _capi.ERR_IO: ReadError,
    _capi.ERR_PARSE: ParseError,
    _capi.ERR_INVALID: InvalidError,
    _capi.ERR_UNSUPPORTED: UnsupportedError,
    _capi.ERR_NOT_FOUND: NotFoundError,
    _capi.ERR_OVERFLOW: SizeOverflowError,
    _capi.ERR_NOMEM: OutOfMemoryError,
}


def from_c(code, err):
    """The exception for status `code` and the filled gpumem_error `err`."""
    message = err.message.decode("utf-8", "replace")
    if not message:
        message = _capi.lib.gpumem_strerror(code).decode()
    cls = BY_CODE.get(code, Error)
    return cls(
        message,
        code=code,
        file=err.file.decode("utf-8", "replace") or None,
        offset=err.offset if err.offset >= 0 else None,
        line=err.line or None,
        column=err.column or None,
    )


def usage(message):
    return UsageError(message, code=_capi.ERR_USAGE)
