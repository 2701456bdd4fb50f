"""The independent reader of the Iceberg lake tests: PyIceberg loads the table from the SQL catalog and
scans it. Prints one JSON document: the current snapshot's summary and every row (timestamps as ISO text).
Usage: read-iceberg.py <catalog.db> <catalog name> <namespace.table>"""
import json
import os
import sys

from pyiceberg.catalog.sql import SqlCatalog

db, name, identifier = sys.argv[1:4]
# File IO properties (a table in S3: s3.endpoint, s3.access-key-id, …) as JSON, if any.
properties = json.loads(os.environ.get("SLUICE_ICEBERG_PROPERTIES", "{}"))
catalog = SqlCatalog(name, uri=f"sqlite:///{db}", init_catalog_tables="false", **properties)
table = catalog.load_table(identifier)
snapshot = table.current_snapshot()
rows = table.scan().to_arrow().to_pylist()
json.dump(
    {
        "summary": snapshot.summary.additional_properties if snapshot else None,
        "operation": snapshot.summary.operation.value if snapshot else None,
        "snapshots": len(table.metadata.snapshots),
        "schema": [[f.field_id, f.name, str(f.field_type)] for f in table.schema().fields],
        "rows": rows,
    },
    sys.stdout,
    default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v),
)
