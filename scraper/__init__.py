"""imdi-watch: monitor IMDi's "Oppmoding om busetting" page and keep every revision."""

__version__ = "0.1.0"
