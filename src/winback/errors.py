"""Every error winback raises on purpose, in one tree.

::

    WinbackError                 base of everything below; the CLI prints its message (it is
    │                            never raised itself: each error below says what went wrong)
    ├── UsageError               a command-line argument or option has a bad value
    ├── SettingsError            a setting (environment variable or .env) has a bad value
    ├── PolicyError              the policy file is malformed or holds a bad value
    ├── ContractError            a table or column name that the data contract does not know
    ├── ImportFileError          a file cannot be read at all (missing, empty, unknown format,
    │                            no usable header, required columns absent)
    │   └── ImportFolderError    a folder to import is missing, or holds no file named after a
    │                            contract table, or two files for one table
    ├── MappingError             a column-mapping file is malformed or names unknown columns
    ├── LedgerError              the ledger on disk is damaged or busy
    │   └── LedgerBusyError      another process holds the ledger's write lock
    ├── BackupError              a backup cannot be made or restored: the target is not
    │                            empty, a file's checksum does not match, the archive is
    │                            not a winback backup
    ├── ScanError                a scan cannot run, or its result cannot be read
    │   ├── NothingToScanError   the ledger holds no orders (by the as-of date) to scan
    │   ├── EngineError          the scan engine is unknown, or its extra is not installed
    │   ├── NoScanRunError       no scan has been run yet
    │   ├── ScanRunError         a scan run on disk is unreadable or incomplete
    │   └── NotInScanError       a customer the scan run does not hold
    ├── ModelError               a customer-base model cannot do what was asked
    │   ├── NotFittedError       predicting before fitting
    │   └── ConvergenceError     the optimiser failed; the message says what to try next
    └── DeskError                the desk refused or could not do what was asked
        ├── NotAuthenticated     nobody is logged in, or the password or token is wrong
        ├── PermissionDenied     the user's role may not do this (see docs/desk.md)
        ├── NotFound             no such case, customer, user or saved filter
        ├── Conflict             the change clashes with what is stored (a name taken,
        │                        a case already closed)
        ├── InvalidInput         a value the desk cannot accept; the message says why
        ├── TooManyAttempts      too many failed logins for an account or an address; the
        │                        message and ``retry_after`` say when to try again
        ├── Busy                 the desk is checking as many passwords as it may at once
        ├── NoDeskError          the workspace has no desk database yet
        └── MailError            the SMTP server cannot be reached, or refused the login

    DegenerateFitWarning         (a warning, not an error) a fit ran off along a flat ridge;
                                 the message names the quantity the data do identify
    LedgerWarning                (a warning) the ledger holds values its reads leave out,
                                 e.g. a date stored by an older version outside the range

Bad *rows* are never exceptions: they are reported back as rejects (see
``winback.ledger.importer``), so one bad line never stops an import.
"""

from __future__ import annotations


class WinbackError(Exception):
    """Base class for every error winback raises on purpose."""


class UsageError(WinbackError):
    """A command-line argument or option has a bad value."""


class SettingsError(WinbackError):
    """A setting has a bad value."""


class PolicyError(WinbackError):
    """The policy file is malformed or holds a bad value."""


class ContractError(WinbackError):
    """A name the data contract does not know."""


class ImportFileError(WinbackError):
    """A file cannot be imported at all."""


class ImportFolderError(ImportFileError):
    """A folder to import is missing, or its files do not name the contract's tables."""


class MappingError(WinbackError):
    """A column-mapping file is malformed."""


class LedgerError(WinbackError):
    """The ledger on disk is damaged or cannot be used."""


class LedgerBusyError(LedgerError):
    """Another process holds the ledger's write lock."""


class BackupError(WinbackError):
    """A backup cannot be made or restored; the message says what to do."""


class ScanError(WinbackError):
    """A scan cannot run, or its result cannot be read."""


class NothingToScanError(ScanError):
    """The ledger holds no orders to scan (or none by the as-of date)."""


class EngineError(ScanError):
    """The scan engine is unknown, or the extra it needs is not installed."""


class NoScanRunError(ScanError):
    """No scan has been run yet, so there is no run to read."""


class ScanRunError(ScanError):
    """A scan run on disk is unreadable or lacks columns."""


class NotInScanError(ScanError):
    """The scan run holds no such customer."""


class ModelError(WinbackError):
    """A customer-base model cannot do what was asked."""


class NotFittedError(ModelError, ValueError):
    """A model was asked to predict before it was fitted."""


class ConvergenceError(ModelError):
    """The optimiser did not converge."""


class DegenerateFitWarning(UserWarning):
    """A fit's parameters ran off along a flat ridge of the likelihood.

    The individual parameters are then meaningless; the warning's message names the
    combination of them that the data still identify (for example ``a/(a+b)``).
    """


class DeskError(WinbackError):
    """The desk refused or could not do what was asked."""


class NotAuthenticated(DeskError):  # noqa: N818 (named for what the user hears)
    """Nobody is logged in, or the credentials are wrong."""


class PermissionDenied(DeskError):  # noqa: N818 (named for what the user hears)
    """The user's role may not do this."""


class NotFound(DeskError):  # noqa: N818 (named for what the user hears)
    """No such object."""


class Conflict(DeskError):  # noqa: N818 (named for what the user hears)
    """The change clashes with what is stored."""


class InvalidInput(DeskError, ValueError):  # noqa: N818
    """A value the desk cannot accept."""


class TooManyAttempts(DeskError):  # noqa: N818 (named for what the user hears)
    """Too many failed logins for an account or an address: refused until the lock-out
    ends, ``retry_after`` seconds from now (the right password too)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Busy(DeskError):  # noqa: N818 (named for what the user hears)
    """The desk is already checking as many passwords as it may at once; try again soon
    (``retry_after`` seconds)."""

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NoDeskError(DeskError):
    """The workspace has no desk database yet."""


class MailError(DeskError):
    """The SMTP server cannot be reached, or refused the login (the message says which and
    what to check); the outbox keeps every message it had not handed over."""


class LedgerWarning(UserWarning):
    """The ledger holds values that its reads leave out (the message says which and why)."""
