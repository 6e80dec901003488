"""One module per database engine behind the protocol in base.py."""
