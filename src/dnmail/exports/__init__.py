"""Exports: the lists units and IID work from (issued, pending, locked, audit), as
xlsx, csv or json. `writers` holds the file formats; `dnmail.services.exports` the
queries. openpyxl is imported only when an xlsx is written."""
