"""The desk: the win-back work (users, cases, assignment, audit) over SQLAlchemy.

Every write goes through a service function in this package that checks permission,
writes the audit row and commits. The desk knows nothing of the web.
"""
