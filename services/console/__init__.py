"""The staff console and the petitioner's own page: a web front end on the services' public
HTTP APIs (issue 18)."""
