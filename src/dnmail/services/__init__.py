"""One module per use case. The convention, everywhere:

- A public service function takes the Runtime `rt` first and owns its transaction
  (`with rt.transaction() as s:`); a dry run is its `dry_run` argument. The CLI calls
  one of them per command and never opens a session.
- A building block that several services compose inside one transaction takes
  `session` keyword-only, never commits, and says in its docstring that the caller
  owns the transaction (`requests.create_requests`, `staff.apply_roster_diff`,
  `units.get_unit`, `audit.record`…).
- Services return frozen dataclasses and never print; driver errors are turned into
  dnmail errors in db/session.py and directory/gateway.py, never here.
"""
