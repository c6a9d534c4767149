"""One error contract: a `UserError` is bad input and becomes one line with exit status 2.

Config, study and checkpoint errors subclass `UserError`. `envs` never imports `rlnoise`, so its
`envs.EnvError` cannot subclass it; `USER_ERRORS` names both, and only these become a one-line
exit 2 in `rlnoise.cli`. Anything else (a real bug, even a ValueError) keeps its traceback.
"""

from __future__ import annotations

from envs.errors import EnvError


class UserError(ValueError):
    """Bad user input: a bad flag, config, study directory or checkpoint; the message is one line."""


USER_ERRORS: tuple[type[Exception], ...] = (UserError, EnvError)
