"""Durable state: tables, migrations and the transactional operations on them.

Only this package touches SQLAlchemy (STYLE "Layout").
"""
