import { CATEGORY_BY_SLUG, type Product } from './catalogue.ts'
import { type Cart, type ClickEvent, type EventProduct, type EventType, SCHEMA_VERSION } from './event.ts'
import { type CartLine, nextAction, type Session } from './funnel.ts'
import type { Random } from './random.ts'
import {
  APP_ERRORS,
  CATEGORY_MIX,
  CATEGORY_PRODUCTS,
  CHECKOUT_ERRORS,
  CONTENT_PAGES,
  CONTENT_ZIPF,
  type LandingKind,
  PRODUCT_ZIPF,
  PRODUCTS_BY_POPULARITY,
  SHOP_HOST,
  WEB_ERRORS,
} from './shop.ts'

/** What each funnel action does to a session (page, product, cart) and the event it emits. */

const HOME = { path: '/', title: 'Sluice Shop' }

/** Performs the session's next action at event time `now`: updates the session and returns its event. */
export function emitEvent(r: Random, s: Session, now: number): ClickEvent {
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
        view(r, s, s.landing)
        if (s.product) extra.product = eventProduct(s.product)
      } else {
        type = 'app_open'
        navigate(s, HOME.path, HOME.title)
      }
      break
    case 'home':
    case 'category':
    case 'content':
    case 'product':
      type = 'page_view'
      view(r, s, action)
      if (action === 'product' && s.product) extra.product = eventProduct(s.product)
      break
    case 'search': {
      type = 'search'
      const query = searchQuery(r)
      extra.search_query = query
      navigate(s, `/search?q=${encodeURIComponent(query).replaceAll('%20', '+')}`, `Search: ${query}`)
      break
    }
    case 'click': {
      type = 'click'
      const listing = CATEGORY_PRODUCTS.get(s.category)!
      s.product = listing.products[listing.zipf.sample(r)]!
      extra.product = eventProduct(s.product)
      if (!s.page) navigate(s, HOME.path, HOME.title)
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
      navigate(s, '/cart', 'Cart')
      extra.product = eventProduct(line!.product)
      extra.cart = cartOf(s.cart)
      break
    }
    case 'checkout':
      type = 'checkout'
      navigate(s, '/checkout', 'Checkout')
      extra.cart = cartOf(s.cart)
      break
    case 'purchase': {
      type = 'purchase'
      const cart = cartOf(s.cart)
      navigate(s, '/checkout/confirmation', 'Thank you for your order')
      extra.order = { order_id: `o-${r.hex(16)}`, total: cart.value, currency: 'EUR', items: cart.items }
      s.cart = []
      break
    }
    case 'login':
    case 'signup':
      type = action
      navigate(s, `/${action}`, action === 'login' ? 'Log in' : 'Create account')
      s.loggedIn = true
      s.user.registered = true
      break
    case 'error': {
      type = 'error'
      const kinds =
        s.page?.path === '/checkout' ? CHECKOUT_ERRORS : s.user.platform === 'web' ? WEB_ERRORS : APP_ERRORS
      extra.error = { ...kinds.pick(r) }
      if (!s.page) navigate(s, HOME.path, HOME.title)
      break
    }
    case 'end':
      throw new Error('internal: an ended session emitted an event')
  }
  s.events++
  s.next = nextAction(r, s, action)
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
function view(r: Random, s: Session, kind: LandingKind): void {
  switch (kind) {
    case 'home':
      s.product = null
      navigate(s, HOME.path, HOME.title)
      return
    case 'category': {
      s.product = null
      // Usually the category being browsed, sometimes another one from the menu.
      if (s.page === null || r.chance(0.5)) s.category = CATEGORY_MIX.pick(r).slug
      navigate(s, `/c/${s.category}`, CATEGORY_BY_SLUG.get(s.category)!.name)
      return
    }
    case 'content': {
      s.product = null
      const page = CONTENT_PAGES[CONTENT_ZIPF.sample(r)]!
      navigate(s, page.path, page.title)
      return
    }
    case 'product': {
      // After a click the clicked product, otherwise (landing, deep link) a popular one.
      const product = s.product ?? PRODUCTS_BY_POPULARITY[PRODUCT_ZIPF.sample(r)]!
      s.product = product
      s.category = product.category
      navigate(s, `/p/${product.id}`, product.name)
      return
    }
  }
}

/**
 * Moves the session to a new page. Web pages refer to the previous page (the first one to the external
 * referrer); app screens have no referrer. Campaign parameters are on the first page's URL only.
 */
function navigate(s: Session, path: string, title: string): void {
  let url = SHOP_HOST + path
  const first = s.page === null
  const referrer = s.user.platform !== 'web' ? null : first ? s.referrer : s.page!.url
  if (first && s.utm) {
    const u = s.utm
    url += `${path.includes('?') ? '&' : '?'}utm_source=${u.source}&utm_medium=${u.medium}&utm_campaign=${u.campaign}`
  }
  s.page = { url, path: path.split('?')[0]!, referrer, title }
}

function searchQuery(r: Random): string {
  const product = PRODUCTS_BY_POPULARITY[PRODUCT_ZIPF.sample(r)]!
  const u = r.next()
  // Mostly the kind of thing ("running shoes"), sometimes a product name or a category.
  if (u < 0.7) return product.name.split(' ').slice(1).join(' ').replace(/ \d$/, '').toLowerCase()
  if (u < 0.9) return product.name.replace(/ \d$/, '').toLowerCase()
  return CATEGORY_BY_SLUG.get(product.category)!.name.toLowerCase()
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
