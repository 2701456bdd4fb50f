"""The lean reader of the large Iceberg tests: PyIceberg loads the table from the SQL catalog and scans it, and
instead of every row prints one content digest per row, so that 200k rows cost seconds, not minutes.
A row's digest is the first 16 hex digits of the SHA-256 of the JSON array of its values in schema order
(compact separators, non-ASCII as is, timestamps as ISO text, integral doubles as integers), which
reference.ts's rowDigest() computes the same way from an expected row.
Usage: digest-iceberg.py <catalog.db> <catalog name> <namespace.table>"""
import hashlib
import json
import os
import sys

from pyiceberg.catalog.sql import SqlCatalog


def plain(value):
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


db, name, identifier = sys.argv[1:4]
# File IO properties (a table in S3: s3.endpoint, s3.access-key-id, …) as JSON, if any.
properties = json.loads(os.environ.get("SLUICE_ICEBERG_PROPERTIES", "{}"))
catalog = SqlCatalog(name, uri=f"sqlite:///{db}", init_catalog_tables="false", **properties)
table = catalog.load_table(identifier)
snapshot = table.current_snapshot()
names = [f.name for f in table.schema().fields]
data = table.scan().to_arrow()
columns = [data.column(n).to_pylist() if n in data.column_names else [None] * data.num_rows for n in names]
digests = [
    hashlib.sha256(
        json.dumps([plain(v) for v in values], separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()[:16]
    for values in zip(*columns)
]
digests.sort()
json.dump(
    {
        "summary": snapshot.summary.additional_properties if snapshot else None,
        "operation": snapshot.summary.operation.value if snapshot else None,
        "snapshots": len(table.metadata.snapshots),
        "schema": [[f.field_id, f.name, str(f.field_type)] for f in table.schema().fields],
        "rows": len(digests),
        "digests": digests,
    },
    sys.stdout,
)
