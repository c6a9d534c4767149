"""The one exception type `envs` raises for bad input."""


class EnvError(ValueError):
    """A bad env id, backend, protocol or argument; the message is one line."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))
