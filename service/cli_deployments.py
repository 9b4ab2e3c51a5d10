"""`amlocal` commands for deployments (placeholder until its issue lands)."""


def register(sub) -> None:
    """Add this group's subcommands to the parser."""
