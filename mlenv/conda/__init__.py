"""Conda packages: records, the rattler solve and install in a child process, the conda-pack
archive and the conda-unpack program it embeds. Import from the submodules."""
