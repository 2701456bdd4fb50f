"""What an Iceberg table's snapshots reference, as PyIceberg sees it: for every snapshot its manifest list,
the manifests that lists and the live data files of those (DELETED entries left out), plus the current
metadata file. Prints one JSON document {"snapshots": n, "files": [sorted locations]}.
Usage: referenced-files.py <catalog.db> <catalog name> <namespace.table>"""
import json
import os
import sys

from pyiceberg.catalog.sql import SqlCatalog

db, name, identifier = sys.argv[1:4]
# File IO properties (a table in S3: s3.endpoint, s3.access-key-id, …) as JSON, if any.
properties = json.loads(os.environ.get("SLUICE_ICEBERG_PROPERTIES", "{}"))
catalog = SqlCatalog(name, uri=f"sqlite:///{db}", init_catalog_tables="false", **properties)
table = catalog.load_table(identifier)
files = {table.metadata_location}
for snapshot in table.metadata.snapshots:
    files.add(snapshot.manifest_list)
    for manifest in snapshot.manifests(table.io):
        files.add(manifest.manifest_path)
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
            files.add(entry.data_file.file_path)
json.dump({"snapshots": len(table.metadata.snapshots), "files": sorted(files)}, sys.stdout)
