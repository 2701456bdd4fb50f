import { CATEGORY_BY_SLUG, type Product } from './catalogue.ts'
import {
  type Cart,
  type ClickEvent,
  type Device,
  type EventProduct,
  type EventType,
  type Page,
  type Platform,
  SCHEMA_VERSION,
  type Utm,
} from './event.ts'
import { Random } from './random.ts'
import {
  APP_DEVICE_TYPES,
  APP_ERRORS,
  APP_OS,
  APP_PUSH_SHARE,
  APP_PUSH_UTM,
  APP_VERSIONS,
  BROWSERS,
  CAMPAIGN_ZIPF,
  CAMPAIGNS,
  CATEGORY_MIX,
  CATEGORY_PRODUCTS,
  CHECKOUT_ERRORS,
  CONTENT_PAGES,
  CONTENT_ZIPF,
  COUNTRIES,
  type LandingKind,
  PLATFORM_MIX,
  PRODUCT_ZIPF,
  PRODUCTS_BY_POPULARITY,
  SHOP_HOST,
  WEB_DEVICE_TYPES,
  WEB_ERRORS,
  WEB_OS,
  WEB_SOURCES,
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

interface SimUser {
  readonly id: string
  readonly anonymousId: string
  readonly platform: Platform
  readonly device: Device
  readonly country: string
  registered: boolean
  active: boolean
}

interface CartLine {
  readonly product: Product
  quantity: number
}

/** What a session does next. Page views are split by the kind of page. */
type Action =
  | 'land'
  | 'home'
  | 'category'
  | 'content'
  | 'product'
  | 'search'
  | 'click'
  | 'add'
  | 'remove'
  | 'checkout'
  | 'purchase'
  | 'login'
  | 'signup'
  | 'error'
  | 'end'

interface Session {
  readonly id: string
  readonly user: SimUser
  readonly utm: Utm | null
  readonly referrer: string | null
  readonly landing: LandingKind
  loggedIn: boolean
  cart: CartLine[]
  next: Action
  /** The page the user is on (the referrer of the next page). */
  page: Page | null
  /** Product shown on the current page, or picked by the last click. */
  product: Product | null
  /** Category the user is browsing, for clicks on listings. */
  category: string
  /** Where login/signup leads back to. */
  resume: 'checkout' | 'browse'
  events: number
}

const MAX_EVENTS_PER_SESSION = 80

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

const HOME = { path: '/', title: 'Sluice Shop' }

/**
 * A discrete-event simulation of a shop's users. `users / 10` session slots run concurrently; each slot
 * holds one user's session, which walks the funnel with realistic transition probabilities and think times,
 * and when it ends the slot starts a new session for another idle user. Events come out in event-time order
 * (the slot whose next event is earliest goes first), so the simulated clock advances with the users'
 * think times, independently of how fast events are consumed.
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
    const event = this.#emit(session, now)
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
    const r = this.#random
    const user = this.#idleUser()
    user.active = true
    let referrer: string | null = null
    let utm: Utm | null = null
    let landing: LandingKind = 'home'
    const campaign = CAMPAIGNS[CAMPAIGN_ZIPF.sample(r)]!
    if (user.platform === 'web') {
      const source = WEB_SOURCES.pick(r)
      referrer = source.referrer
      utm = source.utm ? { ...source.utm, campaign } : null
      landing = source.landing.pick(r)
    } else if (r.chance(APP_PUSH_SHARE)) {
      utm = { ...APP_PUSH_UTM, campaign }
    }
    return {
      id: `s-${r.hex(16)}`,
      user,
      utm,
      referrer,
      landing,
      loggedIn: user.registered && r.chance(user.platform === 'web' ? 0.45 : 0.85),
      cart: [],
      next: 'land',
      page: null,
      product: null,
      category: CATEGORY_MIX.pick(r).slug,
      resume: 'browse',
      events: 0,
    }
  }

  #emit(s: Session, now: number): ClickEvent {
    const r = this.#random
    const action = s.next
    let type: EventType
    const extra: {
      product?: EventProduct
      search_query?: string
      cart?: Cart
      order?: ClickEvent['order']
      error?: ClickEvent['error']
    } = {}
    switch (action) {
      case 'land':
        if (s.user.platform === 'web') {
          type = 'page_view'
          this.#view(s, s.landing)
          if (s.product) extra.product = eventProduct(s.product)
        } else {
          type = 'app_open'
          this.#navigate(s, HOME.path, HOME.title)
        }
        break
      case 'home':
      case 'category':
      case 'content':
      case 'product':
        type = 'page_view'
        this.#view(s, action)
        if (action === 'product' && s.product) extra.product = eventProduct(s.product)
        break
      case 'search': {
        type = 'search'
        const query = this.#searchQuery()
        extra.search_query = query
        this.#navigate(s, `/search?q=${encodeURIComponent(query).replaceAll('%20', '+')}`, `Search: ${query}`)
        break
      }
      case 'click': {
        type = 'click'
        const listing = CATEGORY_PRODUCTS.get(s.category)!
        s.product = listing.products[listing.zipf.sample(r)]!
        extra.product = eventProduct(s.product)
        if (!s.page) this.#navigate(s, HOME.path, HOME.title)
        break
      }
      case 'add': {
        type = 'add_to_cart'
        const product = s.product ?? PRODUCTS_BY_POPULARITY[PRODUCT_ZIPF.sample(r)]!
        const quantity = r.chance(0.85) ? 1 : r.chance(0.8) ? 2 : 3
        const line = s.cart.find((l) => l.product === product)
        if (line) line.quantity += quantity
        else s.cart.push({ product, quantity })
        extra.product = eventProduct(product)
        extra.cart = cartOf(s.cart)
        break
      }
      case 'remove': {
        type = 'remove_from_cart'
        const index = r.int(s.cart.length)
        const [line] = s.cart.splice(index, 1)
        this.#navigate(s, '/cart', 'Cart')
        extra.product = eventProduct(line!.product)
        extra.cart = cartOf(s.cart)
        break
      }
      case 'checkout':
        type = 'checkout'
        this.#navigate(s, '/checkout', 'Checkout')
        extra.cart = cartOf(s.cart)
        break
      case 'purchase': {
        type = 'purchase'
        const cart = cartOf(s.cart)
        this.#navigate(s, '/checkout/confirmation', 'Thank you for your order')
        extra.order = { order_id: `o-${r.hex(16)}`, total: cart.value, currency: 'EUR', items: cart.items }
        s.cart = []
        break
      }
      case 'login':
      case 'signup':
        type = action
        this.#navigate(s, `/${action}`, action === 'login' ? 'Log in' : 'Create account')
        s.loggedIn = true
        s.user.registered = true
        break
      case 'error': {
        type = 'error'
        const kinds =
          s.page?.path === '/checkout' ? CHECKOUT_ERRORS : s.user.platform === 'web' ? WEB_ERRORS : APP_ERRORS
        extra.error = { ...kinds.pick(r) }
        if (!s.page) this.#navigate(s, HOME.path, HOME.title)
        break
      }
      case 'end':
        throw new Error('internal: an ended session emitted an event')
    }
    s.events++
    s.next = s.events >= MAX_EVENTS_PER_SESSION ? 'end' : this.#transition(s, action)
    const page = s.page!
    return {
      schema_version: SCHEMA_VERSION,
      event_id: r.uuid(),
      event_type: type,
      event_time: new Date(now).toISOString(),
      user_id: s.user.id,
      anonymous_id: s.user.anonymousId,
      session_id: s.id,
      platform: s.user.platform,
      device: s.user.device,
      country: s.user.country,
      page,
      // The campaign parameters of the page URL: on the landing event of a campaign visit only.
      utm: s.events === 1 ? s.utm : null,
      ...extra,
    }
  }

  /** A page view of the given kind; sets the session's page, category and product. */
  #view(s: Session, kind: LandingKind): void {
    const r = this.#random
    switch (kind) {
      case 'home':
        s.product = null
        this.#navigate(s, HOME.path, HOME.title)
        return
      case 'category': {
        s.product = null
        // Usually the category being browsed, sometimes another one from the menu.
        if (s.page === null || r.chance(0.5)) s.category = CATEGORY_MIX.pick(r).slug
        this.#navigate(s, `/c/${s.category}`, CATEGORY_BY_SLUG.get(s.category)!.name)
        return
      }
      case 'content': {
        s.product = null
        const page = CONTENT_PAGES[CONTENT_ZIPF.sample(r)]!
        this.#navigate(s, page.path, page.title)
        return
      }
      case 'product': {
        // After a click the clicked product, otherwise (landing, deep link) a popular one.
        const product = s.product ?? PRODUCTS_BY_POPULARITY[PRODUCT_ZIPF.sample(r)]!
        s.product = product
        s.category = product.category
        this.#navigate(s, `/p/${product.id}`, product.name)
        return
      }
    }
  }

  /**
   * Moves the session to a new page. Web pages refer to the previous page (the first one to the external
   * referrer); app screens have no referrer. Campaign parameters are on the first page's URL only.
   */
  #navigate(s: Session, path: string, title: string): void {
    let url = SHOP_HOST + path
    const first = s.page === null
    const referrer = s.user.platform !== 'web' ? null : first ? s.referrer : s.page!.url
    if (first && s.utm) {
      const u = s.utm
      url += `${path.includes('?') ? '&' : '?'}utm_source=${u.source}&utm_medium=${u.medium}&utm_campaign=${u.campaign}`
    }
    s.page = { url, path: path.split('?')[0]!, referrer, title }
  }

  #searchQuery(): string {
    const r = this.#random
    const product = PRODUCTS_BY_POPULARITY[PRODUCT_ZIPF.sample(r)]!
    const u = r.next()
    // Mostly the kind of thing ("running shoes"), sometimes a product name or a category.
    if (u < 0.7) return product.name.split(' ').slice(1).join(' ').replace(/ \d$/, '').toLowerCase()
    if (u < 0.9) return product.name.replace(/ \d$/, '').toLowerCase()
    return CATEGORY_BY_SLUG.get(product.category)!.name.toLowerCase()
  }

  /** Chooses the next action after `done`, with weights that depend on the session's state. */
  #transition(s: Session, done: Action): Action {
    const hasCart = s.cart.length > 0
    const canLogin = !s.loggedIn && s.user.registered
    const canSignup = !s.user.registered
    let options: [Action, number][]
    switch (done) {
      case 'land':
        if (s.user.platform !== 'web') {
          options = [
            ['category', 25],
            ['search', 22],
            ['click', 23],
            ['content', 4],
            ['end', 26],
          ]
          break
        }
        // The landing page: what follows any page of its kind, except that many visits bounce right away.
        if (this.#random.chance(0.3)) return 'end'
        return this.#transition(s, s.landing === 'product' ? 'product' : 'home')
      case 'home':
      case 'category':
      case 'content':
        options = [
          ['category', 20],
          ['content', 5],
          ['search', 14],
          ['click', 26],
          ['login', canLogin ? 3 : 0],
          ['signup', canSignup ? 1.5 : 0],
          ['checkout', hasCart ? 3 : 0],
          ['error', 1],
          ['end', 30],
        ]
        break
      case 'product':
        options = [
          ['add', 20],
          ['click', 18],
          ['category', 10],
          ['search', 7],
          ['home', 3],
          ['checkout', hasCart ? 4 : 0],
          ['error', 0.7],
          ['end', 34],
        ]
        break
      case 'search':
        options = [
          ['click', 48],
          ['search', 12],
          ['category', 5],
          ['error', 0.5],
          ['end', 30],
        ]
        break
      case 'click':
        options = [
          ['product', 92],
          ['error', 1],
          ['end', 7],
        ]
        break
      case 'add':
        options = [
          ['checkout', 30],
          ['click', 14],
          ['category', 14],
          ['search', 8],
          ['remove', 7],
          ['home', 3],
          ['end', 28],
        ]
        break
      case 'remove':
        options = [
          ['category', 25],
          ['checkout', hasCart ? 15 : 0],
          ['search', 10],
          ['click', 10],
          ['end', 40],
        ]
        break
      case 'checkout':
        if (!s.loggedIn) {
          s.resume = 'checkout'
          options = canLogin
            ? [
                ['login', 60],
                ['end', 40],
              ]
            : [
                ['signup', 45],
                ['end', 55],
              ]
        } else {
          options = [
            ['purchase', 58],
            ['error', 7],
            ['end', 35],
          ]
        }
        break
      case 'purchase':
        options = [
          ['home', 15],
          ['click', 5],
          ['end', 80],
        ]
        break
      case 'login':
      case 'signup':
        if (s.resume === 'checkout' && hasCart) {
          s.resume = 'browse'
          options = [
            ['checkout', 85],
            ['end', 15],
          ]
        } else {
          options = [
            ['home', 50],
            ['category', 15],
            ['search', 10],
            ['end', 25],
          ]
        }
        break
      case 'error':
        options =
          s.page?.path === '/checkout' && hasCart
            ? [
                ['checkout', 35],
                ['end', 65],
              ]
            : [
                ['home', 25],
                ['category', 15],
                ['end', 60],
              ]
        break
      case 'end':
        return 'end'
    }
    return pickAction(this.#random, options)
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

function pickAction(random: Random, options: readonly [Action, number][]): Action {
  let total = 0
  for (const [, w] of options) total += w
  let u = random.next() * total
  for (const [action, w] of options) {
    if (u < w) return action
    u -= w
  }
  return 'end'
}

function eventProduct(p: Product): EventProduct {
  return { id: p.id, name: p.name, category: p.category, price: p.price }
}

function cartOf(lines: readonly CartLine[]): Cart {
  let items = 0
  let cents = 0
  for (const l of lines) {
    items += l.quantity
    cents += l.quantity * l.product.priceCents
  }
  return { items, value: cents / 100 }
}
