import { type Document, isMap, isScalar, type LineCounter, type Node, type Scalar } from 'yaml'

/** A 1-based place in the file. */
export interface Position {
  readonly line: number
  readonly column: number
}

export type DocumentPath = readonly (string | number)[]

/**
 * Finds where things are in a parsed YAML document: a value by its path, a key, or a character inside a
 * scalar (for an expression's error, which the expression library reports as an offset into the string).
 */
export class SourceMap {
  readonly #text: string
  readonly #doc: Document.Parsed
  readonly #lines: LineCounter

  constructor(text: string, doc: Document.Parsed, lines: LineCounter) {
    this.#text = text
    this.#doc = doc
    this.#lines = lines
  }

  offset(offset: number): Position {
    const { line, col } = this.#lines.linePos(offset)
    return { line, column: col }
  }

  has(path: DocumentPath): boolean {
    return this.#doc.hasIn(path)
  }

  /** The value at `path`, or the nearest enclosing one that exists (a missing field points at its parent). */
  value(path: DocumentPath): Position {
    for (let n = path.length; n >= 0; n--) {
      const node = this.#node(path.slice(0, n))
      if (node?.range) return this.offset(node.range[0])
    }
    return { line: 1, column: 1 }
  }

  /** The key of the last path element (an unknown field), or the value when it has no key. */
  key(path: DocumentPath): Position {
    const parent = this.#node(path.slice(0, -1))
    const name = path.at(-1)
    if (isMap(parent)) {
      for (const pair of parent.items) {
        if (isScalar(pair.key) && pair.key.value === name && pair.key.range)
          return this.offset(pair.key.range[0])
      }
    }
    return this.value(path)
  }

  /** The place of character `offset` of the string value at `path`, following quotes, escapes and block indentation. */
  inString(path: DocumentPath, offset: number): Position {
    const node = this.#node(path)
    if (!isScalar(node) || typeof node.value !== 'string' || !node.range) return this.value(path)
    return this.offset(sourceOffset(this.#text, node as Scalar<string>, offset))
  }

  #node(path: DocumentPath): Node | undefined {
    if (path.length === 0) return (this.#doc.contents as Node | null) ?? undefined
    return this.#doc.getIn(path, true) as Node | undefined
  }
}

/**
 * Maps an offset into a scalar's value to an offset into the source by walking both side by side: every value
 * character is found in the source in order, and what the source has in between (quotes, an escape's backslash,
 * block indentation, line folding) is skipped. Exact for the usual cases; never points outside the scalar.
 */
function sourceOffset(text: string, node: Scalar<string>, offset: number): number {
  const [start, end] = node.range as [number, number, number]
  const value = node.value
  let p = start
  if (node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE') p++
  else if (node.type === 'BLOCK_LITERAL' || node.type === 'BLOCK_FOLDED') p = text.indexOf('\n', p) + 1 || end
  for (let i = 0; i < Math.min(offset, value.length); i++) {
    if (node.type === 'QUOTE_DOUBLE' && text[p] === '\\') {
      p += escapeLength(text, p)
      continue
    }
    if (node.type === 'QUOTE_SINGLE' && text[p] === "'" && text[p + 1] === "'") {
      p += 2
      continue
    }
    const found = findNext(text, value[i]!, p, end)
    if (found === -1) break
    p = found + 1
  }
  // Land on the next value character, past indentation or a line break the walk stopped in front of.
  if (offset < value.length) {
    const found = findNext(text, value[offset]!, p, end)
    if (found !== -1) p = found
  }
  return Math.min(p, Math.max(start, end - 1))
}

/** Value characters that a folded or flow scalar may have turned into something else in the source. */
function findNext(text: string, char: string, from: number, end: number): number {
  for (let p = from; p < end; p++) {
    const c = text[p]
    if (c === char) return p
    if (char === ' ' && c === '\n') return p
    if (char === '\n' && c === '\n') return p
    if (c !== ' ' && c !== '\t' && c !== '\n' && c !== '\r') return -1
  }
  return -1
}

function escapeLength(text: string, p: number): number {
  const c = text[p + 1]
  if (c === 'x') return 4
  if (c === 'u') return 6
  if (c === 'U') return 10
  return 2
}
