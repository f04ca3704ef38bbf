"""Errors a user can fix: `launch.py` prints them as one line, without a traceback."""


class UserError(Exception):
    """A problem in what the user gave us, with a message that says how to fix it."""


class ConfigError(UserError):
    """A config field is missing, out of range, or inconsistent with the machine."""


class CheckpointError(UserError):
    """A checkpoint is missing, unreadable, or belongs to another model."""
