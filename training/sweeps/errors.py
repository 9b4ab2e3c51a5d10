"""The one error a sweep configuration raises: a client mistake naming the field at fault."""


class SweepConfigError(ValueError):
    """A sweep's configuration is invalid; `field` names where (e.g. `sampling.space.--kernel`)."""

    status = 400

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message

    def to_dict(self) -> dict:
        """The JSON error body the control API answers with."""
        return {"message": self.message, "field": self.field}

    def within(self, prefix: str) -> "SweepConfigError":
        """The same error with its field placed under `prefix` (how nested parsers report)."""
        field = f"{prefix}.{self.field}" if self.field else prefix
        return SweepConfigError(field, self.message)
