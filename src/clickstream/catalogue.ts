import { writeFile } from 'node:fs/promises'
import { Random } from './random.ts'

/** One product of the simulated shop. Prices are in EUR, the shop's only currency. */
export interface Product {
  /** "p-0001" … "p-0500". */
  readonly id: string
  readonly name: string
  /** Category slug, e.g. "electronics". */
  readonly category: string
  /** Price in EUR with two decimals. */
  readonly price: number
  /** The same price in cents, for exact sums. */
  readonly priceCents: number
}

export interface Category {
  readonly slug: string
  readonly name: string
  /** Relative size of the category in the catalogue. */
  readonly weight: number
  readonly minPrice: number
  readonly maxPrice: number
  readonly nouns: readonly string[]
}

export const CATEGORIES: readonly Category[] = [
  {
    slug: 'electronics',
    name: 'Electronics',
    weight: 14,
    minPrice: 15,
    maxPrice: 350,
    nouns: ['Headphones', 'Speaker', 'Charger', 'Smartwatch', 'Power Bank', 'Earbuds', 'Keyboard', 'Webcam'],
  },
  {
    slug: 'fashion',
    name: 'Fashion',
    weight: 16,
    minPrice: 12,
    maxPrice: 180,
    nouns: ['T-Shirt', 'Hoodie', 'Jeans', 'Jacket', 'Sweater', 'Dress', 'Shirt', 'Scarf', 'Cap'],
  },
  {
    slug: 'shoes',
    name: 'Shoes',
    weight: 10,
    minPrice: 25,
    maxPrice: 220,
    nouns: ['Sneakers', 'Running Shoes', 'Boots', 'Sandals', 'Loafers', 'Trail Shoes', 'Slippers'],
  },
  {
    slug: 'home',
    name: 'Home & Living',
    weight: 11,
    minPrice: 8,
    maxPrice: 250,
    nouns: ['Lamp', 'Cushion', 'Throw Blanket', 'Vase', 'Candle', 'Rug', 'Mirror', 'Wall Clock'],
  },
  {
    slug: 'kitchen',
    name: 'Kitchen',
    weight: 9,
    minPrice: 9,
    maxPrice: 300,
    nouns: [
      'Knife',
      'Frying Pan',
      'Coffee Grinder',
      'Kettle',
      'Cutting Board',
      'Mug Set',
      'Blender',
      'Teapot',
    ],
  },
  {
    slug: 'beauty',
    name: 'Beauty',
    weight: 9,
    minPrice: 5,
    maxPrice: 120,
    nouns: ['Face Cream', 'Shampoo', 'Perfume', 'Lip Balm', 'Serum', 'Body Lotion', 'Hair Oil'],
  },
  {
    slug: 'sports',
    name: 'Sports',
    weight: 9,
    minPrice: 8,
    maxPrice: 150,
    nouns: [
      'Yoga Mat',
      'Dumbbells',
      'Water Bottle',
      'Resistance Bands',
      'Gym Bag',
      'Jump Rope',
      'Foam Roller',
    ],
  },
  {
    slug: 'toys',
    name: 'Toys',
    weight: 7,
    minPrice: 6,
    maxPrice: 90,
    nouns: ['Building Blocks', 'Puzzle', 'Plush Bear', 'Board Game', 'Toy Car', 'Kite'],
  },
  {
    slug: 'books',
    name: 'Books',
    weight: 8,
    minPrice: 5,
    maxPrice: 45,
    nouns: ['Novel', 'Cookbook', 'Travel Guide', 'Notebook', 'Planner', 'Comic'],
  },
  {
    slug: 'garden',
    name: 'Garden',
    weight: 7,
    minPrice: 6,
    maxPrice: 140,
    nouns: ['Plant Pot', 'Watering Can', 'Garden Gloves', 'Pruning Shears', 'Seed Kit', 'Bird Feeder'],
  },
]

const ADJECTIVES = [
  'Classic',
  'Urban',
  'Everyday',
  'Premium',
  'Compact',
  'Eco',
  'Nordic',
  'Vintage',
  'Pro',
  'Soft',
  'Bold',
  'Lightweight',
  'Cozy',
  'Smart',
  'Essential',
  'Alpine',
  'Coastal',
  'Midnight',
  'Organic',
  'Studio',
]

export const CATALOGUE_SIZE = 500

/**
 * The shop's catalogue: 500 products in 10 categories, the same on every run and for every seed (it is the
 * dimension table events are joined with). Product ids are "p-0001" … "p-0500".
 */
function buildCatalogue(): Product[] {
  const random = new Random('sluice-catalogue', 'v1')
  const totalWeight = CATEGORIES.reduce((sum, c) => sum + c.weight, 0)
  const products: Product[] = []
  const used = new Set<string>()
  for (const category of CATEGORIES) {
    const isLast = category === CATEGORIES[CATEGORIES.length - 1]
    const count = isLast
      ? CATALOGUE_SIZE - products.length
      : Math.round((CATALOGUE_SIZE * category.weight) / totalWeight)
    for (let i = 0; i < count; i++) {
      let name: string
      do {
        name = `${random.pick(ADJECTIVES)} ${random.pick(category.nouns)}`
        if (used.has(name)) name = `${name} ${random.between(2, 9)}`
      } while (used.has(name))
      used.add(name)
      // Log-uniform between the category's bounds, ending in .99 or .49 like shop prices do.
      const euros = Math.floor(category.minPrice * (category.maxPrice / category.minPrice) ** random.next())
      const priceCents = Math.max(1, euros * 100 + (random.chance(0.75) ? 99 : 49) - 100)
      products.push({ id: '', name, category: category.slug, price: priceCents / 100, priceCents })
    }
  }
  // Interleave categories so ids do not group by category, then number them.
  for (let i = products.length - 1; i > 0; i--) {
    const j = random.int(i + 1)
    ;[products[i], products[j]] = [products[j]!, products[i]!]
  }
  return products.map((p, i) => ({ ...p, id: `p-${String(i + 1).padStart(4, '0')}` }))
}

export const PRODUCTS: readonly Product[] = Object.freeze(buildCatalogue())

export const CATEGORY_BY_SLUG: ReadonlyMap<string, Category> = new Map(CATEGORIES.map((c) => [c.slug, c]))

/** Products of each category, in id order. */
export const PRODUCTS_BY_CATEGORY: ReadonlyMap<string, readonly Product[]> = new Map(
  CATEGORIES.map((c) => [c.slug, PRODUCTS.filter((p) => p.category === c.slug)]),
)

/** The catalogue as rows of the dimension table: id, name, category, price (EUR). */
export function catalogueRows(): { id: string; name: string; category: string; price: number }[] {
  return PRODUCTS.map(({ id, name, category, price }) => ({ id, name, category, price }))
}

export function catalogueJsonLines(): string {
  return catalogueRows()
    .map((row) => `${JSON.stringify(row)}\n`)
    .join('')
}

export function catalogueCsv(): string {
  const quote = (value: string | number) => {
    const text = String(value)
    return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text
  }
  const lines = catalogueRows().map((r) =>
    [r.id, r.name, r.category, r.price.toFixed(2)].map(quote).join(','),
  )
  return `id,name,category,price\n${lines.join('\n')}\n`
}

/** Writes the catalogue as CSV (".csv") or JSON lines (anything else, e.g. ".jsonl"). */
export async function writeCatalogue(path: string, format?: 'jsonl' | 'csv'): Promise<void> {
  const chosen = format ?? (path.toLowerCase().endsWith('.csv') ? 'csv' : 'jsonl')
  await writeFile(path, chosen === 'csv' ? catalogueCsv() : catalogueJsonLines())
}
