import { emitEvent } from './emit.ts'
import type { ClickEvent, Device, EventType } from './event.ts'
import { type Session, type SimUser, startSession } from './funnel.ts'
import { Random } from './random.ts'
import {
  APP_DEVICE_TYPES,
  APP_OS,
  APP_VERSIONS,
  BROWSERS,
  COUNTRIES,
  PLATFORM_MIX,
  WEB_DEVICE_TYPES,
  WEB_OS,
} from './shop.ts'

export interface SimulatorOptions {
  /** Same seed (and users and start time): the same events, in the same order. */
  readonly seed: number
  /** Size of the user population (user ids u-000001 … ). */
  readonly users: number
  /** Event time of the simulation's start, in ms since the epoch. */
  readonly startTime: number
}

/** One in this many users is in a session at any moment; each session emits an event every ~10 s. */
export const USERS_PER_ACTIVE_SESSION = 10

/** Mean think time after each event type, in ms (exponentially distributed, plus 300 ms). */
const THINK_MS: Record<EventType, number> = {
  page_view: 17_000,
  search: 11_000,
  click: 1_800,
  add_to_cart: 8_500,
  remove_from_cart: 7_000,
  checkout: 45_000,
  purchase: 14_000,
  login: 9_000,
  signup: 30_000,
  app_open: 5_000,
  error: 6_000,
}
/** Mean pause of a session slot between one user's session and the next user's, in ms. */
const SESSION_GAP_MS = 7_000

/**
 * A discrete-event simulation of a shop's users. `users / 10` session slots run concurrently; each slot
 * holds one user's session, which walks the funnel with realistic transition probabilities and think times,
 * and when it ends the slot starts a new session for another idle user. Events come out in event-time order
 * (the slot whose next event is earliest goes first), so the simulated clock advances with the users'
 * think times, independently of how fast events are consumed.
 *
 * This file holds the user population and the slot scheduling; the funnel (session state and transitions)
 * is in funnel.ts, what each action does and the event it emits in emit.ts.
 */
export class ClickstreamSimulator {
  readonly #seed: number
  readonly #random: Random
  readonly #users: (SimUser | undefined)[]
  readonly #userCount: number
  readonly #slotTime: Float64Array
  readonly #slotSession: (Session | null)[]
  readonly #heap: Int32Array
  #now: number

  constructor(options: SimulatorOptions) {
    if (!(Number.isSafeInteger(options.users) && options.users > 0))
      throw new Error(`internal: users must be a positive integer, got ${options.users}`)
    this.#seed = options.seed
    this.#random = new Random(options.seed, 'model')
    this.#userCount = options.users
    this.#users = new Array(options.users)
    this.#now = options.startTime
    const slots = Math.max(1, Math.ceil(options.users / USERS_PER_ACTIVE_SESSION))
    this.#slotTime = new Float64Array(slots)
    this.#slotSession = new Array(slots).fill(null)
    this.#heap = new Int32Array(slots)
    for (let i = 0; i < slots; i++) {
      // Sessions already under way at the start: spread their first events over the first ~10 s.
      this.#slotTime[i] = options.startTime + Math.round(this.#random.exponential(SESSION_GAP_MS))
      this.#heap[i] = i
    }
    for (let i = (slots >> 1) - 1; i >= 0; i--) this.#siftDown(i)
  }

  /** The simulated clock: event time of the last event returned. */
  get now(): number {
    return this.#now
  }

  /** The next event, in event-time order. */
  next(): ClickEvent {
    const slot = this.#heap[0]!
    const now = this.#slotTime[slot]!
    this.#now = now
    let session = this.#slotSession[slot]
    if (!session) {
      session = this.#startSession()
      this.#slotSession[slot] = session
    }
    const event = emitEvent(this.#random, session, now)
    if (session.next === 'end') {
      session.user.active = false
      this.#slotSession[slot] = null
      this.#slotTime[slot] = now + 300 + Math.round(this.#random.exponential(SESSION_GAP_MS))
    } else {
      this.#slotTime[slot] = now + 300 + Math.round(this.#random.exponential(THINK_MS[event.event_type]))
    }
    this.#siftDown(0)
    return event
  }

  #user(index: number): SimUser {
    const existing = this.#users[index]
    if (existing) return existing
    // Each user's attributes come from their own stream: they do not depend on when the user first shows up.
    const r = new Random(this.#seed, `user:${index}`)
    const platform = PLATFORM_MIX.pick(r)
    let device: Device
    if (platform === 'web') {
      const type = WEB_DEVICE_TYPES.pick(r)
      const os = WEB_OS[type].pick(r)
      device = { type, os, browser: BROWSERS[os]!.pick(r) }
    } else {
      const type = APP_DEVICE_TYPES[platform].pick(r)
      const name = platform === 'ios' ? (type === 'tablet' ? 'iPadOS' : 'iOS') : 'Android'
      device = { type, os: `${name} ${APP_OS[platform].pick(r)}`, app_version: APP_VERSIONS.pick(r) }
    }
    const user: SimUser = {
      id: `u-${String(index + 1).padStart(6, '0')}`,
      anonymousId: `a-${r.hex(12)}`,
      platform,
      device,
      country: COUNTRIES.pick(r),
      registered: r.chance(0.55),
      active: false,
    }
    this.#users[index] = user
    return user
  }

  /** An idle user: a few random tries, then the next idle one after the last try (there always is one). */
  #idleUser(): SimUser {
    let index = this.#random.int(this.#userCount)
    for (let attempt = 0; attempt < 8; attempt++) {
      const user = this.#user(index)
      if (!user.active) return user
      index = this.#random.int(this.#userCount)
    }
    for (;;) {
      index = (index + 1) % this.#userCount
      const user = this.#user(index)
      if (!user.active) return user
    }
  }

  #startSession(): Session {
    const user = this.#idleUser()
    user.active = true
    return startSession(this.#random, user)
  }

  #siftDown(start: number): void {
    const heap = this.#heap
    const time = this.#slotTime
    const n = heap.length
    let i = start
    const item = heap[i]!
    for (;;) {
      const left = 2 * i + 1
      if (left >= n) break
      const right = left + 1
      let child = left
      if (right < n && before(time, heap[right]!, heap[left]!)) child = right
      if (!before(time, heap[child]!, item)) break
      heap[i] = heap[child]!
      i = child
    }
    heap[i] = item
  }
}

/** Slot a goes before slot b: earlier time, ties by slot number (so the order is fully determined). */
function before(time: Float64Array, a: number, b: number): boolean {
  const ta = time[a]!
  const tb = time[b]!
  return ta < tb || (ta === tb && a < b)
}
