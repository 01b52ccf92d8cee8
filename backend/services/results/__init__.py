"""A dispatch's results per target account, read from terminals and cached (dispatch_results)."""
