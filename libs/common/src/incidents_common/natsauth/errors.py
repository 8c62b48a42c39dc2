"""What the credential store and the command line report."""


class NatsAuthError(Exception):
    """A problem with the credential store; the CLI prints it and exits with 1."""


class BadRequest(NatsAuthError):
    """An unknown region, user or an invalid name; the CLI prints it and exits with 2."""
