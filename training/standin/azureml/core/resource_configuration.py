"""azureml.core.resource_configuration: what a model needs to run (register_model's argument)."""


class ResourceConfiguration:
    """CPU cores, memory in GB and GPUs for a model."""

    def __init__(self, cpu=None, memory_in_gb=None, gpu=None):
        self.cpu, self.memory_in_gb, self.gpu = cpu, memory_in_gb, gpu

    def serialize(self):
        """Azure's JSON keys."""
        return {"cpu": self.cpu, "memoryInGB": self.memory_in_gb, "gpu": self.gpu}

    def __repr__(self):
        return (f"ResourceConfiguration(cpu={self.cpu}, memory_in_gb={self.memory_in_gb}, "
                f"gpu={self.gpu})")
