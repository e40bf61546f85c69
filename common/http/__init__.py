"""HTTP plumbing shared by every app's API: the error shape, strict fields, parsers, paging."""
