"""Test-only servers (Dovecot), started by the tests that need them."""
