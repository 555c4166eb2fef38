"""dnmail: the lifecycle of the official @danang.gov.vn mailboxes."""

__version__ = "0.1.0"
