"""`python -m service.agent [--workspace DIR]`: the agent process (`amlocal serve` starts it)."""
from .loop import main

main()
