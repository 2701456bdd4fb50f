import type { z } from 'zod'
import type { FileProblem } from './errors.ts'
import { describeValue } from './schema-helpers.ts'
import type { DocumentPath, SourceMap } from './source-map.ts'

/** Turns Zod's validation issues into problems at their place in the YAML, worded for the file's author. */
export function documentProblems(issues: readonly z.core.$ZodIssue[], map: SourceMap): FileProblem[] {
  const located = flatten(issues, [])
  const unknownKeysAt = new Set(
    located.filter((l) => l.issue.code === 'unrecognized_keys').map((l) => display(l.path)),
  )
  const problems: FileProblem[] = []
  for (const { issue, path } of located) {
    const noKind = issue.code === 'custom' && (issue.params as { noKind?: boolean } | undefined)?.noKind
    if (noKind && unknownKeysAt.has(display(path))) continue
    problems.push(problem(issue, path, map))
  }
  const seen = new Set<string>()
  return problems
    .sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0))
    .filter((p) => {
      const key = `${p.line}:${p.column}:${p.message}`
      if (seen.has(key)) return false
      seen.add(key)
      return true
    })
}

interface Located {
  readonly issue: z.core.$ZodIssue
  readonly path: DocumentPath
}

/**
 * A union that failed reports every branch's issues. When one branch got further into the value (its issues
 * lie deeper), the value was meant for that branch and its issues are the useful ones; when none did, the
 * union's own message ("expected a duration or …") says it best.
 */
function flatten(issues: readonly z.core.$ZodIssue[], prefix: DocumentPath): Located[] {
  const out: Located[] = []
  for (const issue of issues) {
    const path = [...prefix, ...(issue.path as (string | number)[])]
    if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      const branch = likelyBranch(issue.errors)
      if (branch) {
        out.push(...flatten(branch, path))
        continue
      }
    }
    out.push({ issue, path })
  }
  return out
}

function likelyBranch(
  branches: readonly (readonly z.core.$ZodIssue[])[],
): readonly z.core.$ZodIssue[] | undefined {
  const depth = (branch: readonly z.core.$ZodIssue[]) => Math.max(0, ...branch.map((i) => i.path.length))
  const deepest = [...branches].sort((a, b) => depth(b) - depth(a))[0]
  if (deepest && depth(deepest) > 0) return deepest
  // All failed at the top: a branch that accepted the value's type (a mapping with an unknown key, say).
  const typed = branches.filter(
    (b) => !b.some((i) => i.code === 'invalid_type' || i.code === 'invalid_value'),
  )
  return typed.length === 1 ? typed[0] : undefined
}

function problem(issue: z.core.$ZodIssue, path: DocumentPath, map: SourceMap): FileProblem {
  const where = display(path)
  if (issue.input === undefined && path.length > 0 && !map.has(path)) {
    const parent = display(path.slice(0, -1))
    return {
      ...map.value(path),
      message: `missing field "${String(path.at(-1))}"${parent ? ` in ${parent}` : ''}`,
    }
  }
  switch (issue.code) {
    case 'unrecognized_keys': {
      const key = issue.keys[0] ?? ''
      return { ...map.key([...path, key]), message: `${where ? `${where}: ` : ''}${issue.message}` }
    }
    case 'invalid_type':
      return { ...map.value(path), message: `${where ? `${where}: ` : ''}${typeMessage(issue)}` }
    default:
      return { ...map.value(path), message: `${where ? `${where}: ` : ''}${issue.message}` }
  }
}

function typeMessage(issue: z.core.$ZodIssueInvalidType): string {
  // Our schemas word their own messages; Zod's default one starts with "Invalid input".
  if (!issue.message.startsWith('Invalid input')) return issue.message
  return `expected ${issue.expected}, got ${describeValue(issue.input)}`
}

/** ["steps", 2, "dedupe", "within"] → "steps[2].dedupe.within". */
export function display(path: DocumentPath): string {
  let out = ''
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out ? `.${part}` : part
  return out
}
