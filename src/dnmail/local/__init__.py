"""The throw-away OpenLDAP server of tests, CI and the demo, and `dnmail deploy render`.

A test server as its own small package (python-ldap's ``slapdtest`` is the model),
shipped in the wheel with its LDIF templates as package data, so that
``dnmail local start`` and ``dnmail deploy render`` work from an installed package:

- :mod:`dnmail.local.render`: the templates, their placeholders and the production
  render (pure text, no process);
- :mod:`dnmail.local.openldap`: where OpenLDAP's programs are, and loading rendered
  LDIF into a stopped server with ``slapadd``/``slapmodify``;
- :mod:`dnmail.local.process`: pid files, free ports, files only the owner reads;
- :mod:`dnmail.local.slapd`: :class:`~dnmail.local.slapd.ThrowawaySlapd`, and what the
  ``dnmail local`` commands run.

Nothing here is imported by the rest of dnmail: production talks to the city's own
server, configured from the same templates.
"""
