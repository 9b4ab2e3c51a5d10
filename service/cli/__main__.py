"""`python -m service.cli ...` is `amlocal ...`."""
from service.cli.main import main

if __name__ == "__main__":
    main()
