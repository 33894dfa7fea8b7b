"""The installed tree: wheels into a staging venv, conda packages vetted, and the ledger of who
may write each path (security invariant 6). Import from the submodules."""
