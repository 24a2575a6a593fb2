"""Run the command line as `python -m scraper`."""

from scraper.cli import main

if __name__ == "__main__":
    main()
