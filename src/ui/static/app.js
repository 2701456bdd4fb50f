/*
 * The dashboard page: one EventSource to /events. The first event is a snapshot (pipelines, the last
 * minutes of chart points, the latest dead letters); then a `tick` every second and `dead-letters` as they
 * are committed. The JSON shapes are those of src/ui/dashboard-state.ts. Clicking an operator opens a second
 * EventSource, /tap, for its records (src/runtime/tap.ts) until it is clicked again. For tests, <main> counts
 * what arrived in data-points and data-dead-letters, and #tap in data-records.
 */
import uPlot from '/vendor/uPlot.esm.js'

const MAX_TICKS = 300
const MAX_DEAD_LETTERS = 50
const MAX_TAP_RECORDS = 50
const COLOURS = ['#2563eb', '#db2777', '#16a34a', '#ea580c', '#7c3aed', '#0891b2', '#ca8a04', '#475569']

/** Each chart: a figure, and the point fields it draws per pipeline (a dash pattern for the second). */
/*
 * Latency and lag are drawn on an asinh scale (linear near zero, logarithmic above): after a restart the
 * catch-up (minutes of latency, a backlog of records) stays in view for the whole history while today's
 * values, a thousand times smaller, still read; a scale that followed current values would drop the
 * catch-up from view once it scrolled past, and a plain log scale has no place for 0 (no lag).
 */
const CHARTS = [
  {
    id: 'chart-throughput',
    fields: [
      { name: 'input', label: 'in/s' },
      { name: 'processed', label: 'processing rate', dash: [6, 4] },
    ],
  },
  {
    id: 'chart-latency',
    asinh: true,
    fields: [
      { name: 'p50', label: 'p50 ms' },
      { name: 'p99', label: 'p99 ms', dash: [6, 4] },
    ],
  },
  {
    id: 'chart-lag',
    asinh: true,
    fields: [
      { name: 'lag', label: 'records' },
      { name: 'lagBytes', label: 'bytes', dash: [2, 3] },
    ],
  },
  { id: 'chart-watermark', fields: [{ name: 'watermarkDelay', label: 's' }] },
]

const clock = (seconds) => new Date(seconds * 1000).toLocaleTimeString('en-GB')
const compact = new Intl.NumberFormat('en', { notation: 'compact', maximumFractionDigits: 1 })
const whole = new Intl.NumberFormat('en')

const main = document.getElementById('app')
const state = {
  pipelines: [],
  order: [],
  ticks: [],
  charts: new Map(),
  points: 0,
  deadLetters: 0,
  /** Each pipeline's card, kept between renders (cardOf). */
  cards: new Map(),
  /** { pipeline, operator, source: EventSource, records } while an operator is tapped. */
  tap: undefined,
}

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag)
  for (const [key, value] of Object.entries(attributes)) {
    if (key === 'style') for (const [p, v] of Object.entries(value)) node.style.setProperty(p, v)
    else node.setAttribute(key, value)
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child)
  return node
}

function colour(id) {
  const i = state.order.indexOf(id)
  return COLOURS[Math.max(i, 0) % COLOURS.length]
}

// ---- Pipelines and their operator graphs ----

function stat(label, value, bad = false) {
  return el('span', { class: bad ? 'stat bad' : 'stat' }, `${label} `, el('b', {}, value))
}

function opBadges(pipeline, node, index) {
  const badges = []
  // Rows a sink refused carry the operator "sink" (or "sink:<table>"), not the sink step's id.
  const refused = (counts) =>
    Object.entries(counts)
      .filter(([operator]) => operator === 'sink' || operator.startsWith('sink:'))
      .reduce((n, [, count]) => n + count, 0)
  const letters =
    (pipeline.deadLettersByOperator[node.id] ?? 0) +
    (index === 0 ? (pipeline.deadLettersByOperator.source ?? 0) : 0) +
    (node.kind === 'sink' ? refused(pipeline.deadLettersByOperator) : 0)
  if (node.kind === 'source' && pipeline.last?.lag !== null && pipeline.last?.lag !== undefined) {
    const unit = pipeline.last.lagUnit === 'bytes' ? 'B' : ''
    badges.push(el('span', { class: 'badge' }, `lag ${compact.format(pipeline.last.lag)}${unit}`))
  }
  if (node.kind === 'sink') {
    badges.push(
      el(
        'span',
        { class: 'badge', 'data-sink-rows': pipeline.totals.outputRows },
        `${whole.format(pipeline.totals.outputRows)} rows`,
      ),
    )
  }
  if (letters > 0) badges.push(el('span', { class: 'badge bad' }, `${whole.format(letters)} dead letters`))
  return badges
}

const ms = (value) => (value >= 1000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`)
const PHASES = ['poll', 'process', 'checkpoint', 'sink']

function health(pipeline) {
  const h = pipeline.health
  return el(
    'span',
    { class: 'health', 'data-health': h.state },
    el('b', {}, h.state),
    h.restarts > 0 ? ` · ${whole.format(h.restarts)} restart${h.restarts === 1 ? '' : 's'}` : null,
    h.lastError
      ? el(
          'span',
          { class: 'last-error', title: `${h.lastError.at}: ${h.lastError.message}` },
          ` · last error ${h.lastError.at.slice(11, 19)}: ${h.lastError.message}`,
        )
      : null,
  )
}

/** The latest batch's phases as one bar, each phase as wide as its share of the batch. */
function phaseBar(batch) {
  const total = Math.max(
    1,
    PHASES.reduce((n, p) => n + batch.durationMs[p], 0),
  )
  return el(
    'span',
    { class: 'phases', title: PHASES.map((p) => `${p} ${ms(batch.durationMs[p])}`).join(', ') },
    ...PHASES.map((p) =>
      el('i', { class: `phase ${p}`, style: { width: `${(100 * batch.durationMs[p]) / total}%` } }),
    ),
  )
}

function batchRow(b) {
  return el(
    'tr',
    { 'data-batch': b.batchId },
    el('td', {}, `${whole.format(b.batchId)}${b.replayed ? ' (replayed)' : ''}`),
    el('td', {}, b.at.slice(11, 19)),
    el('td', {}, whole.format(b.inputRows)),
    el('td', {}, whole.format(b.outputRows)),
    el('td', {}, whole.format(b.deadLetteredRows)),
    el('td', {}, `${compact.format(b.inputRowsPerSecond)} / ${compact.format(b.processedRowsPerSecond)}`),
    ...PHASES.map((p) => el('td', {}, ms(b.durationMs[p]))),
    el('td', {}, ms(b.durationMs.total)),
    el('td', {}, phaseBar(b)),
  )
}

function batchesSummary(pipeline) {
  const latest = pipeline.batches[0]
  return [
    `Last ${pipeline.batches.length} batches`,
    latest
      ? el(
          'small',
          {},
          ` · latest ${ms(latest.durationMs.total)}: `,
          phaseBar(latest),
          ` ${PHASES.map((p) => `${p} ${ms(latest.durationMs[p])}`).join(' · ')}`,
        )
      : '',
  ]
}

const BATCH_COLUMNS = [
  'Batch',
  'Time',
  'In',
  'Out',
  'Dead',
  'In/s / processing/s',
  ...PHASES,
  'Total',
  'Phases',
]

function headStats(pipeline) {
  const t = pipeline.totals
  const last = pipeline.last
  const latest = pipeline.batches[0]
  return [
    el('h2', {}, pipeline.id),
    health(pipeline),
    stat('batch', last ? whole.format(last.batchId) : '–'),
    stat('in', last ? `${compact.format(last.inputRowsPerSecond)}/s` : '–'),
    stat('processing', latest ? `${compact.format(latest.processedRowsPerSecond)}/s` : '–'),
    stat('read', whole.format(t.inputRows)),
    stat('written', whole.format(t.outputRows)),
    stat('dead-lettered', whole.format(t.deadLettered), t.deadLettered > 0),
    stat('late', whole.format(t.late)),
    stat('state', `${whole.format(last?.stateRows ?? 0)} keys`),
    stat('watermark', last?.watermark ? last.watermark.slice(11, 19) : '–'),
    t.sinkErrors > 0 ? stat('sink errors', whole.format(t.sinkErrors), true) : null,
  ].filter((node) => node !== null)
}

// ---- The consumer group: its members, their partitions (tasks), the group's lag per partition ----

/** "events:3" → "3" (the topic is the source's; shown once in the panel's title). */
const partitionNumber = (partition) => partition.slice(partition.lastIndexOf(':') + 1)

function partitionPill(p, taskState) {
  return el(
    'span',
    {
      class: `part${p.lag > 0 ? ' behind' : ''}${taskState ? ` ${taskState}` : ''}`,
      'data-partition': p.partition,
      'data-lag': p.lag,
      title: `${p.partition}: committed ${p.committed === null ? 'never' : whole.format(p.committed)}, end ${whole.format(p.end)}, lag ${whole.format(p.lag)}${taskState ? `, task ${taskState}` : ''}`,
    },
    el('span', { class: 'num' }, partitionNumber(p.partition)),
    ` ${compact.format(p.lag)}`,
  )
}

function memberBox(member, byPartition) {
  const lag = member.partitions.reduce((n, p) => n + (byPartition.get(p)?.lag ?? 0), 0)
  const restoring = Object.values(member.tasks ?? {}).filter((s) => s === 'restoring').length
  return el(
    'div',
    { class: 'member', 'data-instance': member.instance, 'data-partitions': member.partitions.join(',') },
    el(
      'div',
      { class: 'member-head' },
      el('b', {}, member.instance),
      el(
        'small',
        {},
        ` ${member.host}${member.pid === null ? '' : ` · pid ${member.pid}`} · ${member.partitions.length} task${member.partitions.length === 1 ? '' : 's'}${restoring > 0 ? ` (${restoring} restoring)` : ''} · lag ${compact.format(lag)}`,
      ),
    ),
    el(
      'div',
      { class: 'parts' },
      ...member.partitions.map((p) =>
        byPartition.has(p) ? partitionPill(byPartition.get(p), member.tasks?.[p]) : null,
      ),
    ),
  )
}

/** The pipeline's group as the broker last showed it; null for a source without one. */
function groupPanel(group) {
  if (!group) return null
  const byPartition = new Map(group.partitions.map((p) => [p.partition, p]))
  const unowned = group.partitions.filter((p) => p.owner === null)
  const lag = group.partitions.reduce((n, p) => n + p.lag, 0)
  const topics = [...new Set(group.partitions.map((p) => p.partition.slice(0, p.partition.lastIndexOf(':'))))]
  return el(
    'div',
    { class: 'group', 'data-members': group.members.length, 'data-state': group.state },
    el(
      'div',
      { class: 'group-head' },
      el('b', {}, 'Group'),
      el(
        'small',
        {},
        ` ${group.groupId} · ${group.state} · ${group.members.length} member${group.members.length === 1 ? '' : 's'} · ${topics.join(', ')}: ${group.partitions.length} partitions · lag ${whole.format(lag)} · ${group.at.slice(11, 19)}`,
      ),
      group.error
        ? el('small', { class: 'last-error', title: group.error }, ` · refresh failed: ${group.error}`)
        : null,
    ),
    el(
      'div',
      { class: 'members' },
      ...group.members.map((m) => memberBox(m, byPartition)),
      unowned.length > 0
        ? el(
            'div',
            { class: 'member unowned', 'data-instance': '' },
            el('div', { class: 'member-head' }, el('b', {}, 'unassigned')),
            el('div', { class: 'parts' }, ...unowned.map((p) => partitionPill(p))),
          )
        : null,
    ),
  )
}

function opButton(node) {
  return el(
    'button',
    {
      type: 'button',
      class: `op ${node.kind}`,
      title: `${node.id}: click for the live tap of its records`,
      'data-operator': node.id,
      'aria-pressed': 'false',
    },
    el('span', { class: 'kind' }, node.kind),
    el('span', { class: 'label' }, node.label || node.id),
    el('span', { class: 'badges' }),
  )
}

/**
 * A pipeline's card is built once and then updated in place every second: buttons and the batches'
 * <details> stay the same elements, so a click is never lost to a redraw and an opened table stays open.
 */
function cardOf(pipeline) {
  let card = state.cards.get(pipeline.id)
  if (card) return card
  const head = el('div', { class: 'pipeline-head' })
  const graph = el('div', { class: 'graph' })
  const summaryText = el('span')
  const body = el('tbody')
  const details = el(
    'details',
    { class: 'batches', 'data-pipeline': pipeline.id },
    el('summary', {}, summaryText),
    el(
      'div',
      { class: 'scroll' },
      el('table', {}, el('thead', {}, el('tr', {}, ...BATCH_COLUMNS.map((h) => el('th', {}, h)))), body),
    ),
  )
  const group = el('div', { class: 'group-slot' })
  const article = el(
    'article',
    { class: 'pipeline', 'data-pipeline': pipeline.id },
    head,
    graph,
    group,
    details,
  )
  card = { article, head, graph, graphKey: '', group, groupKey: '', summaryText, body }
  state.cards.set(pipeline.id, card)
  return card
}

function renderPipeline(pipeline) {
  const card = cardOf(pipeline)
  card.article.style.setProperty('--colour', colour(pipeline.id))
  card.head.replaceChildren(...headStats(pipeline))
  const graphKey = JSON.stringify(pipeline.graph)
  if (graphKey !== card.graphKey) {
    card.graph.replaceChildren(...pipeline.graph.map(opButton))
    card.graphKey = graphKey
  }
  pipeline.graph.forEach((node, index) => {
    const button = card.graph.children[index]
    const tapped = state.tap?.pipeline === pipeline.id && state.tap?.operator === node.id
    button.classList.toggle('tapped', tapped)
    button.setAttribute('aria-pressed', String(tapped))
    button.querySelector('.badges').replaceChildren(...opBadges(pipeline, node, index))
  })
  // Redrawn only when the view changed (every few seconds), so hovering a partition keeps its title.
  const groupKey = JSON.stringify(pipeline.group)
  if (groupKey !== card.groupKey) {
    const panel = groupPanel(pipeline.group)
    card.group.replaceChildren(...(panel ? [panel] : []))
    card.groupKey = groupKey
  }
  card.summaryText.replaceChildren(...batchesSummary(pipeline))
  card.body.replaceChildren(...pipeline.batches.map(batchRow))
  return card.article
}

function renderPipelines() {
  const container = document.getElementById('pipelines')
  const articles = state.pipelines.map(renderPipeline)
  // Only a change of pipelines moves cards; otherwise they stay where they are.
  if (articles.length !== container.children.length || articles.some((a, i) => container.children[i] !== a))
    container.replaceChildren(...articles)
  document
    .getElementById('legend')
    .replaceChildren(...state.order.map((id) => el('span', { style: { '--colour': colour(id) } }, id)))
}

// ---- Charts ----

function chartData(chart) {
  const xs = state.ticks.map((tick) => tick.t)
  const data = [xs]
  for (const id of state.order) {
    for (const field of chart.fields)
      data.push(state.ticks.map((tick) => tick.points[id]?.[field.name] ?? null))
  }
  return data
}

function chartSize(figure) {
  return { width: Math.max(200, figure.clientWidth - 16), height: 190 }
}

/** 0 and powers of ten up to the scale's top: the ticks of an asinh axis. */
function decades(_u, _axis, _min, max) {
  const decadesUp = Math.max(1, Math.floor(Math.log10(Math.max(1, max))))
  // At most six ticks: every decade, or every other, third…
  const step = 10 ** Math.ceil(decadesUp / 6)
  const ticks = [0]
  for (let v = 1; v <= max; v *= step) ticks.push(v)
  return ticks
}

function buildCharts() {
  for (const plot of state.charts.values()) plot.destroy()
  state.charts.clear()
  for (const chart of CHARTS) {
    const figure = document.getElementById(chart.id)
    const series = [{}]
    for (const id of state.order) {
      for (const field of chart.fields) {
        series.push({
          label: `${id} ${field.label}`,
          stroke: colour(id),
          width: 2,
          dash: field.dash,
          spanGaps: false,
          points: { show: false },
        })
      }
    }
    const plot = new uPlot(
      {
        ...chartSize(figure),
        legend: { show: false },
        cursor: { drag: { x: false, y: false } },
        // Zero stays in view; below it only when there are negative values (event time ahead of the clock).
        scales: {
          x: { time: true },
          y: chart.asinh
            ? { distr: 4, asinh: 1, range: (_u, _min, max) => [0, Math.max(10, (max ?? 0) * 2)] }
            : { range: (_u, min, max) => [Math.min(0, min * 1.1), Math.max(1, max * 1.1)] },
        },
        axes: [
          { stroke: '#667085', grid: { stroke: '#eef0f4' }, values: (_u, splits) => splits.map(clock) },
          {
            stroke: '#667085',
            grid: { stroke: '#eef0f4' },
            size: 56,
            // uPlot's own filter of log-like ticks would blank some of these (null), shown as 0.
            ...(chart.asinh ? { splits: decades, filter: (_u, splits) => splits } : {}),
            values: (_u, values) => values.map((v) => (v === null ? '' : compact.format(v))),
          },
        ],
        series,
      },
      chartData(chart),
      figure,
    )
    state.charts.set(chart.id, plot)
  }
}

function updateCharts() {
  for (const chart of CHARTS) {
    const data = chartData(chart)
    state.charts.get(chart.id)?.setData(data)
    // What the chart holds, for tests and anyone inspecting the page.
    const figure = document.getElementById(chart.id)
    figure.dataset.points = String(data[0].length)
    figure.dataset.maxValue = String(
      Math.max(
        0,
        ...data
          .slice(1)
          .flat()
          .filter((v) => v !== null),
      ),
    )
    figure.dataset.latestHeight = latestHeight(state.charts.get(chart.id), data)
  }
}

/** How high in the plot (0 bottom, 1 top) the first series' newest value is drawn: whether it still reads. */
function latestHeight(plot, data) {
  const value = data[1]?.findLast((v) => v !== null)
  if (!plot || value === undefined || value === null) return ''
  const height = plot.bbox.height / uPlot.pxRatio
  return height > 0 ? (1 - plot.valToPos(value, 'y') / height).toFixed(3) : ''
}

const resize = new ResizeObserver(() => {
  for (const chart of CHARTS)
    state.charts.get(chart.id)?.setSize(chartSize(document.getElementById(chart.id)))
})
for (const chart of CHARTS) resize.observe(document.getElementById(chart.id))

// ---- Dead letters ----

function deadLetterRow(d, fresh) {
  return el(
    'tr',
    { class: fresh ? 'new' : '', 'data-operator': d.operator },
    el('td', { title: d.at }, d.at.slice(11, 19)),
    el('td', {}, d.pipeline),
    el('td', {}, d.operator),
    el('td', { class: 'reason', title: d.reason }, el('span', {}, d.reason)),
    el('td', { class: 'source', title: `batch ${d.batchId}, key ${d.key ?? 'none'}` }, d.source),
    el('td', { class: 'raw', title: `${d.bytes} bytes` }, d.preview),
  )
}

function addDeadLetters(views, fresh) {
  const body = document.getElementById('dead-letter-rows')
  body.querySelector('tr.empty')?.remove()
  body.prepend(...views.map((d) => deadLetterRow(d, fresh)))
  while (body.rows.length > MAX_DEAD_LETTERS) body.deleteRow(-1)
  state.deadLetters += views.length
  main.dataset.deadLetters = String(state.deadLetters)
}

// ---- The live tap ----

function tapRow(pipeline, operator, r) {
  return el(
    'li',
    { 'data-operator': operator, 'data-pipeline': pipeline },
    el(
      'span',
      { class: 'meta' },
      `${new Date(r.at).toLocaleTimeString('en-GB')}${r.instance ? ` · ${r.instance}` : ''} · batch ${r.batchId} · ${r.source}${r.key === null ? '' : ` · key ${r.key}`}`,
    ),
    el('pre', { title: `${whole.format(r.chars)} characters` }, r.preview),
  )
}

function renderTap() {
  const panel = document.getElementById('tap')
  const tap = state.tap
  panel.dataset.pipeline = tap?.pipeline ?? ''
  panel.dataset.operator = tap?.operator ?? ''
  panel.dataset.records = String(tap?.records ?? 0)
  document.getElementById('tap-title').textContent = tap
    ? `${tap.pipeline} › ${tap.operator}`
    : 'click an operator above to see the records it emits'
  if (!tap) document.getElementById('tap-records').replaceChildren()
}

function closeTap() {
  state.tap?.source.close()
  state.tap = undefined
  renderTap()
  renderPipelines()
}

function openTap(pipeline, operator) {
  const same = state.tap?.pipeline === pipeline && state.tap?.operator === operator
  closeTap()
  if (same) return
  const query = new URLSearchParams({ pipeline, operator })
  const tapSource = new EventSource(`/tap?${query}`)
  state.tap = { pipeline, operator, source: tapSource, records: 0 }
  tapSource.addEventListener('records', (event) => {
    if (state.tap?.source !== tapSource) return
    const records = JSON.parse(event.data)
    const list = document.getElementById('tap-records')
    list.prepend(...records.reverse().map((r) => tapRow(pipeline, operator, r)))
    while (list.children.length > MAX_TAP_RECORDS) list.lastElementChild.remove()
    state.tap.records += records.length
    renderTap()
  })
  renderTap()
  renderPipelines()
}

document.getElementById('pipelines').addEventListener('click', (event) => {
  const op = event.target.closest('button.op')
  const article = op?.closest('article[data-pipeline]')
  if (op && article) openTap(article.dataset.pipeline, op.dataset.operator)
})
document.getElementById('tap-close').addEventListener('click', closeTap)

// ---- Events ----

function setPipelines(pipelines) {
  state.pipelines = pipelines
  const ids = pipelines.map((p) => p.id)
  const changed = ids.length !== state.order.length || ids.some((id, i) => id !== state.order[i])
  state.order = ids
  renderPipelines()
  if (changed) buildCharts()
}

function countPoints(tick) {
  if (Object.keys(tick.points).length > 0) state.points++
  main.dataset.points = String(state.points)
}

const status = document.getElementById('status')
const source = new EventSource('/events')
source.addEventListener('open', () => {
  status.dataset.state = 'live'
  status.textContent = 'live'
})
source.addEventListener('error', () => {
  status.dataset.state = 'lost'
  status.textContent = 'reconnecting…'
})
source.addEventListener('snapshot', (event) => {
  const snapshot = JSON.parse(event.data)
  state.ticks = snapshot.ticks.slice(-MAX_TICKS)
  state.order = []
  setPipelines(snapshot.pipelines)
  document.getElementById('dead-letter-rows').replaceChildren()
  state.deadLetters = 0
  if (snapshot.deadLetters.length > 0) addDeadLetters(snapshot.deadLetters, false)
  else
    document
      .getElementById('dead-letter-rows')
      .append(el('tr', { class: 'empty' }, el('td', { colspan: 6 }, 'None yet.')))
})
source.addEventListener('tick', (event) => {
  const { tick, pipelines } = JSON.parse(event.data)
  state.ticks.push(tick)
  if (state.ticks.length > MAX_TICKS) state.ticks.splice(0, state.ticks.length - MAX_TICKS)
  setPipelines(pipelines)
  updateCharts()
  countPoints(tick)
})
source.addEventListener('dead-letters', (event) => addDeadLetters(JSON.parse(event.data), true))
