"""The one error catalogue of edgefleet.

Domain code raises these; it never imports grpc. Each error class carries an
:class:`ErrorCode`; ``edgefleet.core.rpc`` maps the codes to gRPC status codes
at the servicer edge, and the CLIs map them to process exit codes
(:data:`EXIT_CODES`). Anything that is not an :class:`EdgefleetError` is an
internal error.
"""

from __future__ import annotations

import enum
from typing import ClassVar

__all__ = [
    "EXIT_CODES",
    "STATUS_NUMBERS",
    "Aborted",
    "AlreadyExists",
    "EdgefleetError",
    "ErrorCode",
    "FailedPrecondition",
    "InvalidArgument",
    "ModelLoadError",
    "NotFound",
    "OutOfRange",
    "PermissionDenied",
    "ResourceExhausted",
    "RuntimeUnavailable",
    "Unauthenticated",
    "Unavailable",
    "bug_message",
    "error_of",
    "one_line",
]


class ErrorCode(enum.Enum):
    """Error kinds; names match ``grpc.StatusCode`` members."""

    INVALID_ARGUMENT = "invalid_argument"
    NOT_FOUND = "not_found"
    ALREADY_EXISTS = "already_exists"
    FAILED_PRECONDITION = "failed_precondition"
    PERMISSION_DENIED = "permission_denied"
    UNAUTHENTICATED = "unauthenticated"
    RESOURCE_EXHAUSTED = "resource_exhausted"
    OUT_OF_RANGE = "out_of_range"
    UNAVAILABLE = "unavailable"
    ABORTED = "aborted"
    INTERNAL = "internal"


#: Process exit codes of the CLIs, per error kind (documented in the README).
EXIT_CODES: dict[ErrorCode, int] = {
    ErrorCode.INVALID_ARGUMENT: 2,
    ErrorCode.NOT_FOUND: 3,
    ErrorCode.ALREADY_EXISTS: 4,
    ErrorCode.FAILED_PRECONDITION: 5,
    ErrorCode.PERMISSION_DENIED: 6,
    ErrorCode.UNAUTHENTICATED: 6,
    ErrorCode.RESOURCE_EXHAUSTED: 7,
    ErrorCode.OUT_OF_RANGE: 2,
    ErrorCode.UNAVAILABLE: 8,
    ErrorCode.ABORTED: 9,
    ErrorCode.INTERNAL: 1,
}


#: gRPC's status number per error kind (the gRPC edge uses ``grpc.StatusCode``; the agent's framed local
#: socket sends the number itself).
STATUS_NUMBERS: dict[ErrorCode, int] = {
    ErrorCode.INVALID_ARGUMENT: 3,
    ErrorCode.NOT_FOUND: 5,
    ErrorCode.ALREADY_EXISTS: 6,
    ErrorCode.PERMISSION_DENIED: 7,
    ErrorCode.RESOURCE_EXHAUSTED: 8,
    ErrorCode.FAILED_PRECONDITION: 9,
    ErrorCode.ABORTED: 10,
    ErrorCode.OUT_OF_RANGE: 11,
    ErrorCode.INTERNAL: 13,
    ErrorCode.UNAVAILABLE: 14,
    ErrorCode.UNAUTHENTICATED: 16,
}


class EdgefleetError(Exception):
    """Base of every error edgefleet raises on purpose. The message is shown to users as is."""

    code: ClassVar[ErrorCode] = ErrorCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.code]


class InvalidArgument(EdgefleetError):
    code = ErrorCode.INVALID_ARGUMENT


class NotFound(EdgefleetError):
    code = ErrorCode.NOT_FOUND


class AlreadyExists(EdgefleetError):
    code = ErrorCode.ALREADY_EXISTS


class FailedPrecondition(EdgefleetError):
    code = ErrorCode.FAILED_PRECONDITION


class PermissionDenied(EdgefleetError):
    code = ErrorCode.PERMISSION_DENIED


class Unauthenticated(EdgefleetError):
    code = ErrorCode.UNAUTHENTICATED


class ResourceExhausted(EdgefleetError):
    code = ErrorCode.RESOURCE_EXHAUSTED


class Unavailable(EdgefleetError):
    code = ErrorCode.UNAVAILABLE


class Aborted(EdgefleetError):
    """A concurrent change won (compare-and-swap conflict): nothing was written; read again and retry."""

    code = ErrorCode.ABORTED


class OutOfRange(EdgefleetError):
    code = ErrorCode.OUT_OF_RANGE


class ModelLoadError(InvalidArgument):
    """A runtime could not load or prepare a model; the message holds the runtime's own words."""


class RuntimeUnavailable(FailedPrecondition):
    """No inference runtime (LiteRT, tflite-runtime, TFLite Micro) is installed."""


def one_line(message: str) -> str:
    """A message as one line for a terminal: its own line breaks become `` | ``."""
    return " | ".join(part.strip() for part in message.splitlines() if part.strip())


def bug_message(exc: BaseException) -> str:
    """What a command says of an exception nobody expected (``EDGEFLEET_DEBUG=1`` shows its traceback)."""
    return f"{type(exc).__name__}: {exc} (a bug: EDGEFLEET_DEBUG=1 shows where; please report it)"


_CLASSES: dict[ErrorCode, type[EdgefleetError]] = {
    cls.code: cls
    for cls in (
        InvalidArgument,
        OutOfRange,
        NotFound,
        AlreadyExists,
        FailedPrecondition,
        PermissionDenied,
        Unauthenticated,
        ResourceExhausted,
        Unavailable,
        Aborted,
    )
}


def error_of(code: ErrorCode, message: str) -> EdgefleetError:
    """The domain error of a kind, as a client raises what a server reported."""
    return _CLASSES.get(code, EdgefleetError)(message)
