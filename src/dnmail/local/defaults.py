"""Default values of the directory server, shared by dnmail.local and its commands.

A module with no imports: `dnmail --help` reads these without loading the renderer.
"""

from pathlib import Path

DEFAULT_SUFFIX = "dc=danang,dc=gov,dc=vn"
# olcDbMaxSize: the limit of the memory map, not space used (the file is sparse).
# back-mdb's 10 MiB default fills at about 5,000 mailboxes; 4 GiB holds millions.
DEFAULT_DB_MAX_SIZE = 4 * 1024**3
# Debian 12's paths and the DNs of a server configured by its package.
DEFAULT_MODULE_DIR = Path("/usr/lib/ldap")
DEFAULT_SCHEMA_DIR = Path("/etc/ldap/schema")
DEFAULT_MODULE_DN = "cn=module{0},cn=config"
DEFAULT_DATABASE_DN = "olcDatabase={1}mdb,cn=config"
PRODUCTION_DB_DIR = Path("/var/lib/ldap")
PRODUCTION_RUN_DIR = Path("/var/run/slapd")
