"""The ids a client chooses (user, feedback, request), one pattern for every layer; the feedback ids
the service chooses for labels sent without one."""

import uuid

# No "/" (it separates tenant and user in the store), no braces (they would break the Redis hash
# tag). The dash is escaped, so that the same class is valid in a browser's `pattern` attribute
# (regex `v` flag): service/api/static/index.html repeats it.
ID_PATTERN = r"^[A-Za-z0-9._:@\-]{1,128}$"


def new_feedback_id() -> str:
    """An id for a label sent without one (it matches ID_PATTERN): given back with a 5xx, so that a retry
    with it applies the label at most once."""
    return f"auto-{uuid.uuid4().hex}"
