import { CATEGORIES, type Category, PRODUCTS, type Product } from './catalogue.ts'
import type { DeviceType, Platform, Utm } from './event.ts'
import { Random, Weighted, Zipf } from './random.ts'

/** The static world of the simulated shop: site structure, traffic sources, devices, countries. */

export const SHOP_HOST = 'https://shop.example.com'

export interface ContentPage {
  readonly path: string
  readonly title: string
}

/** Non-product pages, most popular first (drawn with a Zipf law). */
export const CONTENT_PAGES: readonly ContentPage[] = [
  { path: '/sale', title: 'Sale' },
  { path: '/new', title: 'New arrivals' },
  { path: '/help', title: 'Help center' },
  { path: '/shipping', title: 'Shipping' },
  { path: '/returns', title: 'Returns' },
  { path: '/account', title: 'My account' },
  { path: '/wishlist', title: 'Wishlist' },
  { path: '/stores', title: 'Stores' },
  { path: '/gift-cards', title: 'Gift cards' },
  { path: '/about', title: 'About us' },
  { path: '/contact', title: 'Contact' },
  { path: '/blog/summer-style-guide', title: 'Summer style guide' },
]

export const CAMPAIGNS = [
  'spring_sale',
  'summer_sale',
  'new_arrivals',
  'back_to_school',
  'black_friday',
  'cyber_monday',
  'winter_clearance',
  'loyalty_10',
  'free_shipping',
  'brand_week',
]

export type LandingKind = 'home' | 'category' | 'product' | 'content'

export interface TrafficSource {
  readonly referrer: string | null
  readonly utm: Omit<Utm, 'campaign'> | null
  readonly landing: Weighted<LandingKind>
}

const searchLanding = new Weighted<LandingKind>([
  ['product', 45],
  ['category', 30],
  ['home', 25],
])
const socialLanding = new Weighted<LandingKind>([
  ['product', 35],
  ['category', 40],
  ['home', 25],
])
const directLanding = new Weighted<LandingKind>([
  ['home', 70],
  ['category', 15],
  ['product', 10],
  ['content', 5],
])
const emailLanding = new Weighted<LandingKind>([
  ['category', 50],
  ['product', 30],
  ['home', 20],
])

/** Where web visits come from. Campaign sources carry UTM parameters on the landing URL. */
export const WEB_SOURCES = new Weighted<TrafficSource>([
  [{ referrer: null, utm: null, landing: directLanding }, 34],
  [{ referrer: 'https://www.google.com/', utm: null, landing: searchLanding }, 26],
  [
    { referrer: 'https://www.google.com/', utm: { source: 'google', medium: 'cpc' }, landing: searchLanding },
    9,
  ],
  [{ referrer: 'https://www.bing.com/', utm: null, landing: searchLanding }, 3],
  [
    {
      referrer: 'https://www.facebook.com/',
      utm: { source: 'facebook', medium: 'paid_social' },
      landing: socialLanding,
    },
    7,
  ],
  [
    {
      referrer: 'https://www.instagram.com/',
      utm: { source: 'instagram', medium: 'social' },
      landing: socialLanding,
    },
    5,
  ],
  [{ referrer: null, utm: { source: 'newsletter', medium: 'email' }, landing: emailLanding }, 8],
  [
    {
      referrer: 'https://deals.example.net/',
      utm: { source: 'deals_example', medium: 'affiliate' },
      landing: searchLanding,
    },
    4,
  ],
  [
    {
      referrer: 'https://www.tiktok.com/',
      utm: { source: 'tiktok', medium: 'paid_social' },
      landing: socialLanding,
    },
    4,
  ],
])

/** App sessions: mostly opened directly, some from a push notification campaign. */
export const APP_PUSH_SHARE = 0.12
export const APP_PUSH_UTM = { source: 'push', medium: 'notification' } as const

export const PLATFORM_MIX = new Weighted<Platform>([
  ['web', 55],
  ['ios', 25],
  ['android', 20],
])

export const COUNTRIES = new Weighted<string>([
  ['DE', 20],
  ['US', 18],
  ['GB', 10],
  ['FR', 9],
  ['NL', 6],
  ['ES', 6],
  ['IT', 6],
  ['PL', 5],
  ['SE', 3],
  ['AT', 3],
  ['CH', 3],
  ['BE', 3],
  ['CA', 2],
  ['DK', 2],
  ['IE', 2],
  ['AU', 2],
])

export const WEB_DEVICE_TYPES = new Weighted<DeviceType>([
  ['desktop', 55],
  ['mobile', 38],
  ['tablet', 7],
])

export const WEB_OS: Record<DeviceType, Weighted<string>> = {
  desktop: new Weighted([
    ['Windows', 58],
    ['macOS', 32],
    ['Linux', 6],
    ['ChromeOS', 4],
  ]),
  mobile: new Weighted([
    ['iOS', 52],
    ['Android', 48],
  ]),
  tablet: new Weighted([
    ['iPadOS', 65],
    ['Android', 35],
  ]),
}

export const BROWSERS: Record<string, Weighted<string>> = {
  Windows: new Weighted([
    ['Chrome', 65],
    ['Edge', 25],
    ['Firefox', 10],
  ]),
  macOS: new Weighted([
    ['Safari', 50],
    ['Chrome', 42],
    ['Firefox', 8],
  ]),
  Linux: new Weighted([
    ['Firefox', 55],
    ['Chrome', 45],
  ]),
  ChromeOS: new Weighted([['Chrome', 1]]),
  iOS: new Weighted([
    ['Safari', 85],
    ['Chrome', 15],
  ]),
  iPadOS: new Weighted([
    ['Safari', 85],
    ['Chrome', 15],
  ]),
  Android: new Weighted([
    ['Chrome', 80],
    ['Samsung Internet', 20],
  ]),
}

export const APP_DEVICE_TYPES: Record<'ios' | 'android', Weighted<DeviceType>> = {
  ios: new Weighted([
    ['mobile', 86],
    ['tablet', 14],
  ]),
  android: new Weighted([
    ['mobile', 92],
    ['tablet', 8],
  ]),
}

export const APP_OS: Record<'ios' | 'android', Weighted<string>> = {
  ios: new Weighted([
    ['18.5', 40],
    ['18.4', 25],
    ['17.7', 20],
    ['26.0', 15],
  ]),
  android: new Weighted([
    ['15', 35],
    ['14', 30],
    ['13', 20],
    ['12', 10],
    ['16', 5],
  ]),
}

export const APP_VERSIONS = new Weighted<string>([
  ['5.14.0', 45],
  ['5.13.2', 25],
  ['5.13.1', 12],
  ['5.12.0', 10],
  ['5.11.3', 8],
])

export interface ErrorKind {
  readonly code: string
  readonly message: string
}

export const WEB_ERRORS = new Weighted<ErrorKind>([
  [{ code: 'HTTP_404', message: 'Page not found' }, 35],
  [{ code: 'HTTP_500', message: 'Internal server error' }, 25],
  [{ code: 'HTTP_503', message: 'Service unavailable' }, 10],
  [{ code: 'TIMEOUT', message: 'Request timed out' }, 15],
])

export const APP_ERRORS = new Weighted<ErrorKind>([
  [{ code: 'NETWORK', message: 'No network connection' }, 45],
  [{ code: 'HTTP_500', message: 'Internal server error' }, 30],
  [{ code: 'APP_CRASH', message: 'The app stopped unexpectedly' }, 25],
])

export const CHECKOUT_ERRORS = new Weighted<ErrorKind>([
  [{ code: 'PAYMENT_DECLINED', message: 'Payment was declined' }, 70],
  [{ code: 'HTTP_500', message: 'Internal server error' }, 30],
])

export const CATEGORY_MIX = new Weighted<Category>(CATEGORIES.map((c) => [c, c.weight]))

/**
 * Product popularity: a fixed shuffle of the catalogue ranks products, and Zipf draws ranks, so a few
 * products (not simply p-0001…) get most views. Per category the same order, with its own Zipf.
 */
function popularityOrder(): Product[] {
  const random = new Random('sluice-catalogue', 'popularity')
  const order = [...PRODUCTS]
  for (let i = order.length - 1; i > 0; i--) {
    const j = random.int(i + 1)
    ;[order[i], order[j]] = [order[j]!, order[i]!]
  }
  return order
}

export const PRODUCTS_BY_POPULARITY: readonly Product[] = popularityOrder()
export const PRODUCT_ZIPF = new Zipf(PRODUCTS_BY_POPULARITY.length, 1.05)

export const CATEGORY_PRODUCTS: ReadonlyMap<string, { products: readonly Product[]; zipf: Zipf }> = new Map(
  CATEGORIES.map((c) => {
    const products = PRODUCTS_BY_POPULARITY.filter((p) => p.category === c.slug)
    return [c.slug, { products, zipf: new Zipf(products.length, 1.05) }]
  }),
)

export const CONTENT_ZIPF = new Zipf(CONTENT_PAGES.length, 1.2)
export const CAMPAIGN_ZIPF = new Zipf(CAMPAIGNS.length, 1.0)
