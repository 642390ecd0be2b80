"""amosheets: keeps a Google Sheet and the deals of an amoCRM / Kommo account in step."""

__version__ = "0.1.0"
