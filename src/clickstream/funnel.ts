import type { Product } from './catalogue.ts'
import type { Device, Page, Platform, Utm } from './event.ts'
import type { Random } from './random.ts'
import {
  APP_PUSH_SHARE,
  APP_PUSH_UTM,
  CAMPAIGN_ZIPF,
  CAMPAIGNS,
  CATEGORY_MIX,
  type LandingKind,
  WEB_SOURCES,
} from './shop.ts'

/** The session funnel: a session's state, how it starts, and which action it takes next. */

export interface SimUser {
  readonly id: string
  readonly anonymousId: string
  readonly platform: Platform
  readonly device: Device
  readonly country: string
  registered: boolean
  active: boolean
}

export interface CartLine {
  readonly product: Product
  quantity: number
}

/** What a session does next. Page views are split by the kind of page. */
export type Action =
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

export interface Session {
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

/** A new session of `user` (already marked active): its traffic source, landing page and login state. */
export function startSession(r: Random, user: SimUser): Session {
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

/** The action after `done`, once the session has counted the event `done` emitted; sessions are capped. */
export function nextAction(random: Random, s: Session, done: Action): Action {
  return s.events >= MAX_EVENTS_PER_SESSION ? 'end' : transition(random, s, done)
}

/** Chooses the next action after `done`, with weights that depend on the session's state. */
function transition(random: Random, s: Session, done: Action): Action {
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
      if (random.chance(0.3)) return 'end'
      return transition(random, s, s.landing === 'product' ? 'product' : 'home')
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
  return pickAction(random, options)
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
