/** DuckDB as a sink: the embedded warehouse, exactly-once (rows and offsets in one transaction). */
export { type DuckDBQueryParameter, type DuckDBSink, type DuckDBSinkOptions, duckdb } from './sink.ts'
