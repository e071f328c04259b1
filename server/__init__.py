"""The submission server: teams upload embedding files, a worker scores them against the server's own splits.

`nossbench-server serve` (the HTTP API), `nossbench-server worker` (scoring) and `nossbench-server admin`
(teams, jobs, publishing) share one database (SQLAlchemy: SQLite file by default, PostgreSQL by URL) and
one data folder (manifests from prepare-splits, uploads, results). Imports `scoring`; nothing imports it.
"""
