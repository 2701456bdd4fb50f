import { randomBytes } from 'node:crypto'
import { open } from 'node:fs/promises'
import type { S3Client } from '@aws-sdk/client-s3'
import { SluiceError, UsageError } from '../../errors.ts'
import type { LakeStorage } from './storage.ts'

/**
 * Where an S3 (or S3-compatible) lake table lives and how to reach it. Every field falls back to the standard
 * AWS environment: AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, AWS_REGION / AWS_DEFAULT_REGION, and the SDK's
 * credential chain (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, profiles, roles).
 */
export interface S3Options {
  /** e.g. "http://127.0.0.1:9000" for MinIO; default: AWS itself, or the endpoint variables above. */
  readonly endpoint?: string
  /** Default: AWS_REGION, AWS_DEFAULT_REGION, or "us-east-1". */
  readonly region?: string
  /**
   * Path-style URLs (`http://host/bucket/key`), which most S3-compatible servers need. Default:
   * AWS_S3_FORCE_PATH_STYLE ("true"/"false") when set, otherwise true with a custom endpoint and false for AWS.
   */
  readonly forcePathStyle?: boolean
  /** Default: the SDK's credential chain (the AWS_* variables first). */
  readonly credentials?: {
    readonly accessKeyId: string
    readonly secretAccessKey: string
    readonly sessionToken?: string
  }
}

/** Objects of at least this size are uploaded in parts (S3 refuses parts under 5 MiB but the last). */
const MULTIPART_BYTES = 32 * 1024 * 1024
const PART_BYTES = 16 * 1024 * 1024

/** "s3://bucket/prefix" → bucket and prefix ("" or ending with "/"). */
export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const match = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(url)
  const bucket = match?.[1]
  if (!match || !bucket)
    throw new UsageError(`lake: ${JSON.stringify(url)} is not an S3 address (s3://bucket/prefix).`)
  const path = (match[2] ?? '').replace(/\/+$/, '')
  if (path.split('/').some((p) => p === '.' || p === '..'))
    throw new UsageError(`lake: ${url}: the prefix must not hold "." or ".." steps.`)
  return { bucket, prefix: path === '' ? '' : `${path}/` }
}

/**
 * A lake table under `s3://bucket/prefix` through @aws-sdk/client-s3 (loaded on first use). S3 has no rename,
 * so `stagesData` is false: data files are written straight under their final keys, and only a commit log
 * entry makes them part of the table. The commit point is a conditional PUT of the entry
 * (`If-None-Match: *`): the server stores it only when the key is free, so an entry is there whole or not at
 * all and two writers cannot take one version. Servers that ignore the condition would let a second writer
 * overwrite a version, so the first putIfAbsent checks the server honours it (and fails otherwise).
 */
export class S3LakeStorage implements LakeStorage {
  readonly description: string
  readonly stagesData = false
  readonly bucket: string
  readonly prefix: string
  readonly #options: S3Options
  #client: Promise<{ client: S3Client; sdk: typeof import('@aws-sdk/client-s3') }> | undefined
  #conditionalChecked: Promise<void> | undefined

  constructor(url: string, options: S3Options = {}) {
    const { bucket, prefix } = parseS3Url(url)
    this.bucket = bucket
    this.prefix = prefix
    this.#options = options
    this.description = `s3://${bucket}/${prefix}`
  }

  async #s3() {
    this.#client ??= (async () => {
      let sdk: typeof import('@aws-sdk/client-s3')
      try {
        sdk = await import('@aws-sdk/client-s3')
      } catch (error) {
        throw new UsageError(
          'lake: s3:// tables need @aws-sdk/client-s3: npm install @aws-sdk/client-s3',
          error,
        )
      }
      const env = process.env
      const endpoint = this.#options.endpoint ?? env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL
      const pathStyleEnv = env.AWS_S3_FORCE_PATH_STYLE?.toLowerCase()
      const forcePathStyle =
        this.#options.forcePathStyle ??
        (pathStyleEnv === undefined
          ? endpoint !== undefined
          : pathStyleEnv === 'true' || pathStyleEnv === '1')
      const client = new sdk.S3Client({
        region: this.#options.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
        forcePathStyle,
        ...(endpoint ? { endpoint } : {}),
        ...(this.#options.credentials ? { credentials: this.#options.credentials } : {}),
      })
      return { client, sdk }
    })()
    return this.#client
  }

  #key(key: string): string {
    for (const part of key.split('/')) {
      if (part === '' || part === '.' || part === '..' || part.includes('\0'))
        throw new SluiceError('SLUICE_LAKE_PATH', `lake: invalid key ${JSON.stringify(key)}.`, {
          domain: 'internal',
        })
    }
    return this.prefix + key
  }

  #fail(action: string, key: string, error: unknown): SluiceError {
    const status = statusOf(error)
    return new SluiceError(
      'SLUICE_LAKE_S3',
      `lake: ${this.description}: ${action} ${key} failed${status ? ` (HTTP ${status})` : ''}: ${messageOf(error)}`,
      { domain: 'external', cause: error, retryable: status === undefined || status >= 500 },
    )
  }

  async put(key: string, data: Uint8Array | readonly Uint8Array[]): Promise<void> {
    const body = data instanceof Uint8Array ? data : Buffer.concat([...data])
    if (body.length >= MULTIPART_BYTES)
      return this.#multipart(key, (start, end) => body.subarray(start, end), body.length)
    const { client, sdk } = await this.#s3()
    try {
      await client.send(new sdk.PutObjectCommand({ Bucket: this.bucket, Key: this.#key(key), Body: body }))
    } catch (error) {
      throw this.#fail('PUT', key, error)
    }
  }

  /** Uploads a local file (a Parquet file DuckDB wrote), in parts when it is large. */
  async putFile(key: string, path: string): Promise<void> {
    const file = await open(path, 'r')
    try {
      const { size } = await file.stat()
      if (size < MULTIPART_BYTES) return await this.put(key, await file.readFile())
      await this.#multipart(
        key,
        async (start, end) => {
          const buffer = Buffer.allocUnsafe(end - start)
          let filled = 0
          while (filled < buffer.length) {
            const { bytesRead } = await file.read(buffer, filled, buffer.length - filled, start + filled)
            if (bytesRead === 0) throw new Error(`${path} shrank while it was uploaded`)
            filled += bytesRead
          }
          return buffer
        },
        size,
      )
    } finally {
      await file.close()
    }
  }

  async #multipart(
    key: string,
    part: (start: number, end: number) => Uint8Array | Promise<Uint8Array>,
    size: number,
  ): Promise<void> {
    const { client, sdk } = await this.#s3()
    const Key = this.#key(key)
    let uploadId: string | undefined
    try {
      const created = await client.send(new sdk.CreateMultipartUploadCommand({ Bucket: this.bucket, Key }))
      uploadId = created.UploadId
      const parts: { ETag: string; PartNumber: number }[] = []
      for (let start = 0, n = 1; start < size; start += PART_BYTES, n++) {
        const body = await part(start, Math.min(size, start + PART_BYTES))
        const result = await client.send(
          new sdk.UploadPartCommand({
            Bucket: this.bucket,
            Key,
            UploadId: uploadId,
            PartNumber: n,
            Body: body,
          }),
        )
        parts.push({ ETag: result.ETag ?? '', PartNumber: n })
      }
      await client.send(
        new sdk.CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts },
        }),
      )
    } catch (error) {
      if (uploadId)
        await client
          .send(new sdk.AbortMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId: uploadId }))
          .catch(() => {})
      throw this.#fail('multipart upload of', key, error)
    }
  }

  async putIfAbsent(key: string, data: Uint8Array): Promise<boolean> {
    await this.#checkConditionalWrites()
    return this.#putIfNoneMatch(key, data)
  }

  async #putIfNoneMatch(key: string, data: Uint8Array): Promise<boolean> {
    const { client, sdk } = await this.#s3()
    try {
      await client.send(
        new sdk.PutObjectCommand({ Bucket: this.bucket, Key: this.#key(key), Body: data, IfNoneMatch: '*' }),
      )
      return true
    } catch (error) {
      // 412: the key exists. 409: a concurrent conditional write to the key is in progress (AWS); the caller
      // reads the log again and retries, finding the key taken or free.
      const status = statusOf(error)
      if (status === 412 || status === 409) return false
      throw this.#fail('conditional PUT of', key, error)
    }
  }

  /** Once per storage: a second conditional PUT of one key must be refused, or commits are not atomic. */
  #checkConditionalWrites(): Promise<void> {
    this.#conditionalChecked ??= (async () => {
      const probe = `_sluice_log/.probe-${randomBytes(8).toString('hex')}`
      const first = await this.#putIfNoneMatch(probe, Buffer.from('probe'))
      const second = await this.#putIfNoneMatch(probe, Buffer.from('probe'))
      await this.delete(probe)
      if (!first || second) {
        this.#conditionalChecked = undefined
        throw new SluiceError(
          'SLUICE_LAKE_S3',
          `lake: ${this.description}: the server ignores conditional writes (If-None-Match: *), which the commit log needs to be atomic. Use a server that supports them (AWS S3, MinIO).`,
          { domain: 'external' },
        )
      }
    })()
    return this.#conditionalChecked
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const { client, sdk } = await this.#s3()
    try {
      const result = await client.send(new sdk.GetObjectCommand({ Bucket: this.bucket, Key: this.#key(key) }))
      return result.Body ? await result.Body.transformToByteArray() : new Uint8Array()
    } catch (error) {
      if (isMissing(error)) return undefined
      throw this.#fail('GET', key, error)
    }
  }

  async getRange(key: string, start: number, end: number): Promise<Uint8Array> {
    if (end <= start) return new Uint8Array()
    const { client, sdk } = await this.#s3()
    try {
      const result = await client.send(
        new sdk.GetObjectCommand({
          Bucket: this.bucket,
          Key: this.#key(key),
          Range: `bytes=${start}-${end - 1}`,
        }),
      )
      return result.Body ? await result.Body.transformToByteArray() : new Uint8Array()
    } catch (error) {
      // Keep "not found" recognisable (readers look for a file in two places).
      if (isMissing(error)) throw Object.assign(this.#fail('GET', key, error), { notFound: true })
      throw this.#fail('GET', key, error)
    }
  }

  async size(key: string): Promise<number | undefined> {
    const { client, sdk } = await this.#s3()
    try {
      const result = await client.send(
        new sdk.HeadObjectCommand({ Bucket: this.bucket, Key: this.#key(key) }),
      )
      return result.ContentLength ?? 0
    } catch (error) {
      if (isMissing(error)) return undefined
      throw this.#fail('HEAD', key, error)
    }
  }

  async list(prefix: string): Promise<string[]> {
    const { client, sdk } = await this.#s3()
    const out: string[] = []
    let token: string | undefined
    do {
      let result: import('@aws-sdk/client-s3').ListObjectsV2CommandOutput
      try {
        result = await client.send(
          new sdk.ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.prefix + prefix,
            ...(token ? { ContinuationToken: token } : {}),
          }),
        )
      } catch (error) {
        throw this.#fail('LIST', prefix || '/', error)
      }
      for (const object of result.Contents ?? []) {
        if (object.Key?.startsWith(this.prefix)) out.push(object.Key.slice(this.prefix.length))
      }
      token = result.IsTruncated ? result.NextContinuationToken : undefined
    } while (token)
    return out
  }

  async delete(key: string): Promise<void> {
    const { client, sdk } = await this.#s3()
    try {
      await client.send(new sdk.DeleteObjectCommand({ Bucket: this.bucket, Key: this.#key(key) }))
    } catch (error) {
      if (!isMissing(error)) throw this.#fail('DELETE', key, error)
    }
  }

  /** Not atomic on S3 (a copy, then a delete); the lake sink does not rename on stores with stagesData false. */
  async rename(from: string, to: string): Promise<void> {
    const { client, sdk } = await this.#s3()
    try {
      await client.send(
        new sdk.CopyObjectCommand({
          Bucket: this.bucket,
          Key: this.#key(to),
          CopySource: `${this.bucket}/${encodeURIComponent(this.#key(from)).replaceAll('%2F', '/')}`,
        }),
      )
    } catch (error) {
      throw this.#fail('COPY', `${from} → ${to}`, error)
    }
    await this.delete(from)
  }

  close(): void {
    void this.#client?.then(({ client }) => client.destroy()).catch(() => {})
    this.#client = undefined
  }
}

function statusOf(error: unknown): number | undefined {
  const meta = (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata
  return meta?.httpStatusCode
}

function isMissing(error: unknown): boolean {
  const name = (error as { name?: string } | undefined)?.name
  return name === 'NoSuchKey' || name === 'NotFound' || statusOf(error) === 404
}

function messageOf(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error)
}
