"""Accounts: users, roles, password hashing and JWT access tokens."""
