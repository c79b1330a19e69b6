"""The ids a client chooses (user, feedback, request), one pattern for every layer."""

# No "/" (it separates tenant and user in the store), no braces (they would break the Redis hash
# tag). The dash is escaped, so that the same class is valid in a browser's `pattern` attribute
# (regex `v` flag): service/api/static/index.html repeats it.
ID_PATTERN = r"^[A-Za-z0-9._:@\-]{1,128}$"
