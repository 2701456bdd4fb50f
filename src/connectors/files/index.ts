/** Files as a source: JSON lines or CSV, batch or watching a directory. */
export {
  type CsvOptions,
  type FileFormat,
  type FileRecord,
  type FilesOptions,
  FilesSourceReader,
  type FileValue,
  files,
} from './files-source.ts'
