"""What mlenv keeps under ``MLENV_CACHE_DIR``: verified artifacts, built layers, HTTP answers
and parsed metadata, each in its own versioned bucket."""
