"""The NOC's view of enforcer: the terminal output (tables, progress, ``watch``) and the web console.

Nothing here decides anything: it reads what :mod:`enforcer.service` returns and prints it, on a
terminal for a person, as plain text or JSON lines for a script, as HTML for the wall screen.
"""
