"""Signals from where providers work: the text grammar and what a signal asks for, pure."""
