/** The simulated web shop: its catalogue, its users' events, and the faults injected into them. */
export {
  CATALOGUE_SIZE,
  CATEGORIES,
  type Category,
  catalogueCsv,
  catalogueJsonLines,
  catalogueRows,
  PRODUCTS,
  type Product,
  writeCatalogue,
} from './catalogue.ts'
export {
  type ClickEvent,
  type Device,
  EVENT_TYPES,
  type EventType,
  PLATFORMS,
  type Platform,
  SCHEMA_VERSION,
} from './event.ts'
export {
  BAD_KINDS,
  type BadKind,
  ClickstreamGenerator,
  type GeneratedRecord,
  type GeneratorOptions,
  INJECTED_HEADER,
  type Injection,
  LATE_MAX_MS,
  LATE_MIN_MS,
} from './generator.ts'
export { Random, Weighted, Zipf } from './random.ts'
export { ClickstreamSimulator, type SimulatorOptions, USERS_PER_ACTIVE_SESSION } from './simulator.ts'
