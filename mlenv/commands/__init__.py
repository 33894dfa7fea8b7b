"""The use cases, one module each: lock, fetch, build, verify, push. The CLI parses arguments,
calls one of these and renders what it returns; a later stage never imports an earlier one's
heavy machinery (the offline build does not load the resolver or the index client)."""
